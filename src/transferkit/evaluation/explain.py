"""Why a classifier predicted what it did: each word's attribution toward a label.

Every classify predictor has `explain(texts, pairs=None, targets=None)`: per text, a list
of `(token, score)` toward `targets` (label indices; by default the predicted ones). The
score is in logit units: toward the label's logit, or, for a two-class logistic head
(one decision row), toward the predicted side's log-odds (±z). Two ways compute it:

- a model with gradients (finetune, scratch, and the heads over an encoder: features,
  contrastive, zeroshot) gets integrated gradients (`integrated_gradients`) over its
  input word embeddings, from a baseline that replaces every word piece by the pad
  token and keeps the special tokens ([CLS], [SEP]) where they are, so those carry no
  attribution. The pieces of one word (the tokenizer's own word split) are summed into
  the word, spelled as it is in the text. The scores add up to the score of the text
  minus that of the baseline, up to the integral's approximation error.
- a linear model over countable features (tfidf, wordvec) gets its exact contributions:
  each feature's value times its weight (`linear_contributions`), which add up, with the
  head's offset (the intercept, less the mean term where it standardises), to the
  logit exactly.

Explanations need the torch runtime: an ONNX export gives no gradients.
"""

from __future__ import annotations

import numpy as np

from transferkit.errors import UserError

Explanation = list[tuple[str, float]]
STEPS = 32  # Gauss-Legendre points of the path integral: on MiniLM, sums within 1% of f(x) - f(baseline) where 24 missed text pairs by 10%
INTERNAL_BATCH = 48  # interpolated inputs per forward pass
CHUNK = 8  # texts integrated together (padded to their longest)


def require_gradients(runtime) -> None:
    """One line for a runtime that cannot give gradients (an ONNX export)."""
    from transferkit.inference import Runtime

    if not isinstance(runtime, Runtime):
        raise UserError("--explain", "needs gradients, which an ONNX export cannot give; explain with the torch run it was exported from (predict RUN --explain)")


def explanations(predictor, texts: list[str], pairs: list[str] | None, predicted: list[str]) -> list[list[dict]]:
    """Records' `explanation` fields: `{"token", "score"}` toward each predicted label."""
    if not hasattr(predictor, "explain"):
        raise UserError("--explain", f"{type(predictor).__name__} cannot explain its predictions")
    targets = [predictor.labels.index(label) for label in predicted]
    return [[{"token": t, "score": s} for t, s in e] for e in predictor.explain(texts, pairs, targets)]


def decision_scores(logits):
    """Per-class scores to attribute, from a linear head's logits (torch or numpy): the
    logits, or for a one-row (two-class) head the log-odds of either side, (-z, z), whose
    argmax is the predicted class."""
    if logits.shape[1] != 1:
        return logits
    if isinstance(logits, np.ndarray):
        return np.concatenate([-logits, logits], axis=1)
    import torch

    return torch.cat([-logits, logits], dim=1)


def integrated_gradients(forward, model, tokenizer, runtime, texts: list[str], pairs: list[str] | None,
                         max_length: int, targets: list[int] | None = None, steps: int = STEPS) -> list[Explanation]:
    """Word attributions of `forward(input_ids, attention_mask, token_type_ids) -> (n, classes)`
    toward `targets` (default: the argmax), integrated over `model`'s input embeddings, for
    the first `max_length` tokens of each text (what the model reads of it)."""
    return token_attributions(forward, model, tokenizer, runtime, texts, pairs, max_length, targets, steps)[0]


def token_attributions(forward, model, tokenizer, runtime, texts, pairs, max_length, targets=None, steps=STEPS):
    """`integrated_gradients`, and per text what its scores should sum to: the target's
    score on the text minus on the baseline (completeness, to check the integral by)."""
    require_gradients(runtime)
    explained, expected = [], []
    for start in range(0, len(texts), CHUNK):
        part = slice(start, start + CHUNK)
        words, differences = _attribute(forward, model, tokenizer, runtime, texts[part], None if pairs is None else pairs[part],
                                        max_length, None if targets is None else targets[part], steps)
        explained += words
        expected += differences
    return explained, expected


def _attribute(forward, model, tokenizer, runtime, texts, pairs, max_length, targets, steps):
    import torch
    from captum.attr import LayerIntegratedGradients

    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length, padding=True, return_offsets_mapping=True,
                    return_special_tokens_mask=True, return_tensors="pt")
    ids = enc["input_ids"].to(runtime.device)
    keep = (enc["special_tokens_mask"].bool() | ~enc["attention_mask"].bool()).to(runtime.device)
    baseline = ids.masked_fill(~keep, tokenizer.pad_token_id)
    extra = (enc["attention_mask"].to(runtime.device), enc["token_type_ids"].to(runtime.device) if "token_type_ids" in enc else None)
    with torch.no_grad():
        scores, base_scores = forward(ids, *extra).float(), forward(baseline, *extra).float()
    chosen = scores.argmax(1) if targets is None else torch.as_tensor(targets, device=scores.device)
    attributions = LayerIntegratedGradients(forward, model.get_input_embeddings()).attribute(
        ids, baselines=baseline, target=chosen, additional_forward_args=extra, n_steps=steps, internal_batch_size=INTERNAL_BATCH)
    per_token = attributions.sum(-1).detach().float().cpu().numpy()
    rows = torch.arange(len(texts), device=scores.device)
    differences = (scores[rows, chosen] - base_scores[rows, chosen]).cpu().tolist()
    return [_words(enc, i, texts[i], None if pairs is None else pairs[i], per_token[i]) for i in range(len(texts))], differences


def _words(enc, i: int, text: str, pair: str | None, scores: np.ndarray) -> Explanation:
    """Word-piece scores summed into the tokenizer's words, each spelled as in its text."""
    words: list[tuple[int, int, int, float]] = []  # (sequence, start, end, score)
    seen: dict[tuple[int, int], int] = {}
    for position, (word, sequence) in enumerate(zip(enc.word_ids(i), enc.sequence_ids(i))):
        if word is None:
            continue
        start, end = (int(x) for x in enc["offset_mapping"][i, position])
        if (sequence, word) in seen:
            k = seen[(sequence, word)]
            words[k] = (sequence, words[k][1], end, words[k][3] + float(scores[position]))
        else:
            seen[(sequence, word)] = len(words)
            words.append((sequence, start, end, float(scores[position])))
    sources = (text, pair)
    return [(sources[sequence][start:end], score) for sequence, start, end, score in words]


def class_weights(head) -> tuple[np.ndarray, np.ndarray]:
    """A linear head as `(features, classes)` weights on its unstandardised inputs and
    `(classes,)` offsets (the intercept, less the weighted mean where it standardises):
    `X @ weights + offsets` is `decision_scores(head.logits(X))`."""
    coef = np.asarray(head.coef, dtype=np.float64)
    offsets = np.asarray(head.intercept, dtype=np.float64)
    if head.mean is not None:
        coef = coef / head.scale
        offsets = offsets - coef @ head.mean
    if coef.shape[0] == 1:
        coef, offsets = np.concatenate([-coef, coef]), np.concatenate([-offsets, offsets])
    return coef.T, offsets


def linear_contributions(head, X, parts: list[tuple[list[str], object]], targets: list[int] | None = None) -> list[Explanation]:
    """Exact explanations of a linear head over countable features. `X` is the head's
    input rows; `parts[i]` is `(names, values)` for text i: each feature occurrence's name
    and its share of the row (a `(occurrences, features)` array or sparse matrix whose
    rows sum to `X[i]`). Each occurrence scores its share times the target's weights, so
    a text's scores plus the target's offset (`class_weights`) are its score exactly."""
    weights, _ = class_weights(head)
    if targets is None:
        targets = decision_scores(head.logits(X)).argmax(1).tolist()
    return [[(name, float(score)) for name, score in zip(names, np.asarray(values @ weights[:, t]).ravel())]
            for (names, values), t in zip(parts, targets)]
