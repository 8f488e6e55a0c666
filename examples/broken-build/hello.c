#include <stdio.h>

int main(void) {
    printf("hello from %s: the build recovered\n", NAME);
    return 0;
}
