"""The device runtime must work where TensorFlow and Keras cannot even be imported."""

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import sys, importlib.abc
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split('.')[0] in ('tensorflow', 'keras', 'tf_keras', 'tensorflow_cpu'):
                raise ImportError(f'blocked by test: {name}')
            return None
    sys.meta_path.insert(0, Block())
    """
)


def run_blocked(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=180)


class TestNoTensorFlow:
    def test_every_edge_module_imports_and_a_model_runs(self, fixtures_dir):
        proc = run_blocked(f"""
            import pkgutil, importlib, sys
            import numpy as np
            import edgecnn.edge as pkg
            names = [m.name for m in pkgutil.walk_packages(pkg.__path__, 'edgecnn.edge.')]
            for name in names:
                importlib.import_module(name)
            from edgecnn.edge.core.interpreter import load_model
            m = load_model({str(fixtures_dir / 'generic_int8.tflite')!r})
            out = m.run({{'image': np.zeros((1, 8, 8, 3), np.float32), 'vec': np.zeros((1, 4), np.float32)}})
            assert out['probs'].shape == (1, 3)
            assert not any(k.split('.')[0] in ('tensorflow', 'keras') for k in sys.modules)
            print('OK', len(names), m.backend)
        """)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert proc.stdout.startswith("OK")

    def test_cli_info_and_help_without_tensorflow(self, fixtures_dir):
        proc = run_blocked(f"""
            import sys
            from edgecnn.cli import main
            code = main(['info', {str(fixtures_dir / 'generic_int8.tflite')!r}, '--json'])
            assert code == 0
            assert not any(k.split('.')[0] in ('tensorflow', 'keras') for k in sys.modules)
        """)
        assert proc.returncode == 0, proc.stderr[-2000:]

    def test_train_verb_names_the_extra(self, tmp_path):
        proc = run_blocked(f"""
            import importlib.util, sys
            real = importlib.util.find_spec
            importlib.util.find_spec = lambda n, *a: None if n.split('.')[0] == 'tensorflow' else real(n, *a)
            from edgecnn.cli import main
            sys.exit(main(['train', 'ecg', '--out', {str(tmp_path)!r}]))
        """)
        assert proc.returncode == 2
        assert "edgecnn[train]" in proc.stderr and "Traceback" not in proc.stderr


class TestPublicAPIAlone:
    def test_api_snippets_with_train_and_convert_blocked(self):
        """docs/api.md runs with TensorFlow, Keras, edgecnn.train, edgecnn.convert and the
        dispatcher edgecnn.cli all unimportable, and every module under edgecnn.edge (every room,
        every submodule) imports so."""
        from pathlib import Path

        root = Path(__file__).resolve().parents[2]
        blocker = BLOCKER.replace("('tensorflow', 'keras', 'tf_keras', 'tensorflow_cpu')",
                                  "('tensorflow', 'keras', 'tf_keras', 'tensorflow_cpu')"
                                  " or name.startswith(('edgecnn.train', 'edgecnn.convert', 'edgecnn.cli'))")
        code = f"""
            import os, re, sys, pkgutil, importlib
            os.chdir({str(root)!r})
            import edgecnn.edge as pkg
            names = [m.name for m in pkgutil.walk_packages(pkg.__path__, 'edgecnn.edge.')]
            assert len(names) > 40 and 'edgecnn.edge.face.cli' in names, names
            for name in names:
                importlib.import_module(name)
            for snippet in re.findall(r"```python\\n(.*?)```", open('docs/api.md').read(), re.S):
                exec(snippet, {{}})
            bad = [k for k in sys.modules if k.split('.')[0] in ('tensorflow', 'keras')
                   or k.startswith(('edgecnn.train', 'edgecnn.convert', 'edgecnn.cli'))]
            assert not bad, bad
            print('API-OK')
        """
        proc = subprocess.run([sys.executable, "-c", blocker + textwrap.dedent(code)], capture_output=True,
                              text=True, timeout=180)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "API-OK" in proc.stdout
