"""Training a classification head beside LLaMA-Factory: encoders (BERT, DeBERTa-v3, MacBERT) and decoder LLMs
with a sequence-classification head, full or LoRA/QLoRA, on the registered Alpaca sets (answer = label)."""
