"""A reward for the judge-guard tests, loaded by verl from this file
(``reward.custom_reward_function.path``): fadtq's own ``compute_score`` on a well-formed, correct
answer instead of the policy's, so that every rollout reaches the judge whatever the tiny model writes."""

from fadtq.verl_ext.reward import compute_score as fadtq_compute_score


async def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs):
    options = (extra_info or {}).get("options") or {}
    letter = next(letter for letter, label in options.items() if label == ground_truth)
    answer = f"<think>The test image differs from the reference image.</think><answer>{letter}</answer>"
    return await fadtq_compute_score(data_source, answer, ground_truth, extra_info, **kwargs)
