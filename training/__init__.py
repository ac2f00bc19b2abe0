"""Training: question pool, RFT/DPO data builders, TRL trainers, evaluation, the scheduled cycle."""
