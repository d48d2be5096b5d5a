"""Learning from unlabelled text: word2vec, domain-adaptive masked-LM and causal-LM pretraining."""
