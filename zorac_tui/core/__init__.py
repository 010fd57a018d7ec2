"""Pure logic: conversation model, throughput, token budget."""
