"""`pretrain word2vec`: CBOW or skip-gram vectors trained by gensim on a streamed corpus.

gensim does the training (its optimised C loops are the reference implementation); this
module only feeds it tokenised documents, checks what gensim would accept silently or fail
on obscurely (an empty vocabulary), shows progress per epoch, and writes the output
directory atomically:

    DIR/vectors.kv     gensim KeyedVectors (`KeyedVectors.load`)
    DIR/vectors.txt    the standard word2vec text format (what transferkit itself reads)
    DIR/config.yaml    every parameter, the tokenisation included
    DIR/metrics.json   vocabulary size, documents, words, seconds, versions
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from transferkit.config import Word2VecConfig
from transferkit.errors import UserError
from transferkit.models.word_vectors import KEYED_VECTORS_FILE, VECTORS_FILE
from transferkit.pretraining.corpus import Corpus, TokenisedCorpus, Tokenisation
from transferkit.progress import progress_bar
from transferkit.rundir import library_versions, staged_run_dir


def gensim_parameters(cfg: Word2VecConfig) -> dict:
    """The keyword arguments of `gensim.models.Word2Vec` for this configuration."""
    return {
        "sg": int(cfg.algorithm == "skipgram"),
        "vector_size": cfg.dimension,
        "window": cfg.window,
        "min_count": cfg.min_count,
        "negative": cfg.negative,
        "epochs": cfg.epochs,
        "workers": cfg.workers,
        "seed": cfg.seed,
    }


def tokenised_corpus(cfg: Word2VecConfig) -> TokenisedCorpus:
    return TokenisedCorpus(Corpus(tuple(cfg.corpus), cfg.text_column), Tokenisation(not cfg.keep_case, cfg.token_pattern))


def train(cfg: Word2VecConfig, run=None) -> dict:
    """Train, write `cfg.output`, and return its metrics; `run` (a `tracking.RunTracking`)
    is started once the output is checked and locked."""
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    cfg.validate()
    corpus = tokenised_corpus(cfg)
    with staged_run_dir(Path(cfg.output), cfg.overwrite, inputs=cfg.corpus) as staging:
        if run is not None:
            run.start()  # the output checked and locked: recorded as running
        model = Word2Vec(**gensim_parameters(cfg))
        try:  # reads the whole corpus once (bad input fails here), then allocates the vectors
            model.build_vocab(corpus, keep_raw_vocab=True)
        except MemoryError:
            words = len(model.wv.index_to_key)
            raise UserError("--dimension", f"not enough memory for {words:,} words of {cfg.dimension:,} dimensions; lower --dimension or raise --min-count") from None
        _check_vocabulary(model, cfg)
        del model.raw_vocab

        class EpochProgress(CallbackAny2Vec):
            def __init__(self):
                self.bar = progress_bar(total=cfg.epochs, desc=f"word2vec {cfg.algorithm}", unit="epoch")

            def on_epoch_end(self, model):
                self.bar.update(1)

        progress = EpochProgress()
        started = time.perf_counter()
        model.train(corpus, total_examples=model.corpus_count, epochs=cfg.epochs, callbacks=[progress])
        seconds = time.perf_counter() - started
        progress.bar.close()

        model.wv.save(str(staging / KEYED_VECTORS_FILE))
        model.wv.save_word2vec_format(str(staging / VECTORS_FILE), binary=False)
        cfg.to_yaml(staging / "config.yaml")
        metrics = {
            "algorithm": cfg.algorithm,
            "vocabulary": len(model.wv),
            "documents": model.corpus_count,
            "words": model.corpus_total_words,
            "seconds": seconds,
            "words_per_second": model.corpus_total_words * cfg.epochs / seconds if seconds > 0 else None,
            "versions": {**library_versions(), "gensim": _gensim_version()},
        }
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def _check_vocabulary(model, cfg: Word2VecConfig) -> None:
    if len(model.wv) == 0:
        counts = model.raw_vocab
        top = max(counts.items(), key=lambda kv: kv[1]) if counts else None
        seen = f"the most frequent word, {top[0]!r}, occurs {top[1]} time(s)" if top else "the corpus has no words"
        raise UserError(cfg.corpus[0], f"no word occurs at least --min-count {cfg.min_count} times ({seen}); lower --min-count or give more text")


def _gensim_version() -> str:
    import gensim

    return gensim.__version__
