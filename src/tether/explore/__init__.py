"""Where rules meet the LLM: the explorer, and rules whose fix is a governed conversation."""
