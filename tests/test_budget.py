"""Budget semantics: --minutes alone trains for the time, --epochs alone that many, both:
whichever comes first; the summary says which ended the run."""

import json
import subprocess
import sys

import pytest

from tfcmgen.config import DEFAULT_EPOCHS, TrainConfig


def test_epochs_resolve_from_what_the_user_gave():
    assert TrainConfig().epochs == DEFAULT_EPOCHS  # neither: the default epochs
    assert TrainConfig(minutes=10).epochs is None  # minutes alone: no epoch limit
    assert TrainConfig(epochs=3).epochs == 3 and TrainConfig(epochs=3).minutes is None
    both = TrainConfig(epochs=3, minutes=10)
    assert (both.epochs, both.minutes) == (3, 10)
    assert TrainConfig.from_json(TrainConfig(minutes=10).to_json()).epochs is None


def test_dry_run_shows_the_resolved_budget():
    def dry(*flags):
        command = [sys.executable, "-m", "tfcmgen.cli", "train", "--out", "/tmp/x", "--dry-run",
                   *flags]
        return json.loads(subprocess.run(command, capture_output=True, text=True,
                                         check=True).stdout)

    assert dry("--minutes", "10")["epochs"] is None
    assert dry()["epochs"] == DEFAULT_EPOCHS


@pytest.mark.slow
def test_minutes_alone_train_past_the_default_epochs_and_say_so(tmp_path, monkeypatch):
    import tfcmgen.config
    from tfcmgen.jobs.runner import run_summary
    from tfcmgen.training import train

    # A default of 2 epochs keeps the test short; minutes alone must not stop there.
    monkeypatch.setattr(tfcmgen.config, "DEFAULT_EPOCHS", 2)
    config = TrainConfig(data="shapes", out=str(tmp_path), image_size=32, num_images=48,
                         batch_size=8, steps_per_epoch=1, base_width=4, noise_dim=8,
                         embedding_dim=8, word2vec_epochs=1, max_length=12, minutes=0.4)
    assert config.epochs is None
    result = train(config, verbose=0)
    assert result.ended_by == "minutes" and result.stopped_by_budget
    assert result.steps > 2  # one step an epoch: more epochs than the default
    assert "the --minutes 0.4 budget ran out" in run_summary(config, result)
    both = config.replace(out=str(tmp_path / "epochs"), epochs=2, minutes=5)
    short = train(both, verbose=0)
    assert (short.ended_by, short.steps) == ("epochs", 2)
    assert "all 2 epochs done" in run_summary(both, short)
