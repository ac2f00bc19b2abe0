"""Math-Critique: (question, optional reference, answer) -> explanation + 1-10 score, as in ChatGLM-Math.

Public entry points:

- ``critic.MathCritic`` (the ``types.Critic`` protocol): ``build_critic(settings, policy=...)``,
  ``.critique(question, answer, reference=None, *, samples=None) -> CritiqueResult``, ``.draw_samples(question)``.
- ``answers.extract_answer`` / ``answers_equivalent`` / ``gsm8k_reference``: the one answer checker.
- ``prompt.build_critique_prompt`` and ``parse.parse_score``: the judge's prompt and its lenient parser.
- ``bands.band_of`` / ``is_pass`` / ``band_label``: the paper's four bands.
- ``steps.check_steps``, ``consistency.consistency_part``, ``judge.judge_part``: the parts.
- ``verifier.Verifier`` / ``verifier_part``: a trained P(correct) without a reference; ``critic.resolve_verifier``
  finds the configured or live one.
- ``calibration.load_calibration`` / ``fit_calibration``: confidence = calibrated P(correct).
- ``verdict.decide_verdict``: right / wrong / unverified, what the student is told.
- ``metrics``: AUROC, ECE, false-confident share and coverage, for ``evaluate``.
- ``labelled_set.make_labelled_set`` and ``evaluate``: the project's own labelled set and metrics.
"""
