"""``edgecnn convert MODEL.keras --task T --calib PATH --out model.tflite``."""

from __future__ import annotations

from edgecnn import tasks


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert a trained .keras model to a fully-int8 .tflite (needs [train])")
    p.add_argument("model", help="the .keras file written by `edgecnn train` (its .keras.json beside it)")
    p.add_argument("--task", required=True, choices=tasks.names())
    p.add_argument("--calib", default=None, help="data for calibration samples (default: the training data named in the metadata)")
    p.add_argument("--out", required=True, help="the int8 .tflite to write")
    p.add_argument("--float-out", default=None, help="also write a float32 .tflite here")
    p.add_argument("--io-dtype", default="int8", choices=("int8", "uint8"), help="int8 model input/output type")
    p.add_argument("--num-calib", type=int, default=200, help="calibration samples (default 200)")
    p.add_argument("--parity-samples", type=int, default=50, help="samples for the Keras-vs-int8 parity check")
    p.add_argument("--eval-data", default=None, help="labelled data: evaluate float and int8 with the same code, store both in the metadata")
    p.add_argument("--eval-args", default="",
                   help="the task's own eval options for --eval-data, one quoted string, e.g. \"--people ids.txt\" or \"--split split.json\"")
    p.add_argument("--max-drop", type=float, default=None,
                   help="refuse the int8 model if its main metric drops more than this many points (needs --eval-data)")
    p.add_argument("--edgetpu", action="store_true", help="also compile for the Coral Edge TPU (needs edgetpu_compiler)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the conversion report as one JSON object")
    p.set_defaults(func=run)


def run(args) -> int:
    import shlex

    from edgecnn.train.cli import require_tensorflow

    if args.max_drop is not None and args.eval_data is None:
        raise ValueError("--max-drop needs --eval-data (labelled data to compare float and int8 on)")
    require_tensorflow()
    from edgecnn.convert.pipeline import convert_model, summary_text

    report = convert_model(
        args.model, task=args.task, calib=args.calib, out=args.out, float_out=args.float_out,
        io_dtype=args.io_dtype, num_calib=args.num_calib, parity_samples=args.parity_samples,
        eval_data=args.eval_data, eval_args=shlex.split(args.eval_args), max_drop=args.max_drop, edgetpu=args.edgetpu, seed=args.seed,
    )
    if args.json:
        from edgecnn.edge.core.cliutil import emit_json

        emit_json(report)
    else:
        print(summary_text(report))
    return 0
