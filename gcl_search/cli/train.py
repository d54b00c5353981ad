"""`gcl-search train`: fine-tune an encoder with the GCL loss from a recipe TOML."""

from __future__ import annotations

import json

import click

from gcl_search.losses.weights import WEIGHTINGS


@click.command("train", short_help="Fine-tune an encoder on graded pairs with the GCL loss.")
@click.option(
    "--recipe",
    "-c",
    required=True,
    type=click.Path(dir_okay=False, exists=True),
    help="Recipe TOML: the field config plus a [train] table (see training/*.toml).",
)
@click.option("--output-dir", "-o", help="Run folder (overrides [train] output_dir).")
@click.option("--epochs", type=int, help="Epochs (overrides [train] epochs).")
@click.option("--batch-size", type=int, help="Contrastive batch size (overrides [train] batch_size).")
@click.option("--lr", type=float, help="Peak learning rate (overrides [train] lr).")
@click.option("--seed", type=int, help="Training seed (overrides [train] seed).")
@click.option("--weighting", type=click.Choice(WEIGHTINGS), help="Score-to-weight function ([train.loss]).")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16", "fp16"]), help="Autocast precision.")
@click.option("--device", help="auto, cpu, cuda or cuda:<n> (overrides [train] device).")
@click.option("--grad-cache-chunk", type=int, help="Rows per GradCache chunk; 0 turns gradient caching off.")
@click.option("--max-steps", type=int, help="Stop after this many steps in all (0 = every epoch).")
@click.option("--resume", is_flag=True, help="Continue the unfinished run in the output folder, exactly.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace a finished run in the output folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars.")
def train_command(
    recipe: str,
    output_dir: str | None,
    epochs: int | None,
    batch_size: int | None,
    lr: float | None,
    seed: int | None,
    weighting: str | None,
    precision: str | None,
    device: str | None,
    grad_cache_chunk: int | None,
    max_steps: int | None,
    resume: bool,
    overwrite: bool | None,
    quiet: bool,
) -> None:
    """Fine-tune the recipe's encoder with Generalized Contrastive Learning (arXiv 2404.08535).

    Writes the run folder (checkpoints, best/ and final/ models with model cards, curves.png, the config
    snapshot) and prints a JSON summary to stdout. Progress goes to stderr.
    """
    from gcl_search.training.spec import load_train_config
    from gcl_search.training.trainer import train

    tc = load_train_config(
        recipe,
        output_dir=output_dir,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        precision=precision,
        device=device,
        grad_cache_chunk=grad_cache_chunk,
        max_steps=max_steps,
        overwrite=overwrite or None,
        loss={"weighting": weighting} if weighting else None,
    )
    result = train(tc, resume=resume, progress=not quiet)
    click.echo(
        json.dumps(
            {
                "output_dir": str(result.output_dir),
                "model_dir": str(result.model_dir),
                "finished": result.finished,
                "steps": len(result.history.get("steps", [])),
                "best": result.best,
            }
        )
    )
