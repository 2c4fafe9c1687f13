"""Every kerasplus component trains inside tf.distribute strategies, JAX's DataParallel, XLA, mixed precision, remat.

Each setting runs once, in a subprocess (`tests/distribute/matrix_runner.py`)
that trains all components and prints JSON; the tests below are parametrized
over components and read that result. Results are cached in a file shared by
the pytest-xdist workers, so each subprocess runs once per test session.
To add a component, append it to `matrix_runner.COMPONENTS`.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.distribute.matrix_runner import COMPONENTS, JAX_8_DEVICE_ROWS, TOLERANCE
from tests.helpers import free_ports

ROOT = Path(__file__).resolve().parents[2]
NAMES = [c.name for c in COMPONENTS]
DETERMINISTIC = [c.name for c in COMPONENTS if c.deterministic]
TIMEOUT = 900  # seconds for one whole matrix run (minutes on a loaded machine); bounds every wait below


def child_env(**extra):
    env = {k: val for k, val in os.environ.items() if k != "TF_CONFIG"}
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONPATH=str(ROOT), **extra)
    return env


def parse(stdout, stderr):
    for line in stdout.splitlines():
        if line.startswith("MATRIX_JSON "):
            return json.loads(line[len("MATRIX_JSON ") :])
    raise AssertionError(f"no result from the matrix run; stderr tail:\n{stderr[-4000:]}")


def start(mode, env):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.distribute.matrix_runner", mode],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_processes(mode, envs):
    """Starts one runner per env, waits at most TIMEOUT s, kills by pid whatever is left."""
    processes = [start(mode, env) for env in envs]
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    return [parse(out, err) for out, err in outputs]


def run_mode(mode):
    if mode == "multi_worker":
        ports = free_ports(2)
        cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
        envs = [
            child_env(TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}))
            for i in range(2)
        ]
        shared = tempfile.mkdtemp(prefix="kerasplus_matrix_shared_")  # one backup_dir for both workers
        for env in envs:
            env["KERASPLUS_MATRIX_SHARED_DIR"] = shared
        try:
            return {"workers": run_processes(mode, envs)}
        finally:
            shutil.rmtree(shared, ignore_errors=True)
    if mode.startswith("jax_data_parallel_"):  # jax_data_parallel_<devices>: simulated CPU devices
        devices = int(mode.rsplit("_", 1)[1])
        env = child_env(
            KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}"
        )
        if devices > 2:  # all rows run on 2 devices; on more, one row of each kind (CI time)
            env["KERASPLUS_MATRIX_ROWS"] = "|".join(JAX_8_DEVICE_ROWS)
        return run_processes("jax_data_parallel", [env])[0]
    return run_processes(mode, [child_env()])[0]


@pytest.fixture(scope="session")
def matrix(tmp_path_factory):
    """mode -> result, each mode computed once per session even across xdist workers."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's directory, common to all xdist workers
    cache = {}

    def get(mode):
        if mode not in cache:
            path = shared / f"kerasplus_matrix_{mode}.json"
            with open(shared / f"kerasplus_matrix_{mode}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                if not path.exists():
                    try:
                        result = run_mode(mode)
                    except Exception as error:  # noqa: BLE001 - recorded so no other test re-runs it
                        result = {"__error__": f"{type(error).__name__}: {error}"[-4000:]}
                    path.write_text(json.dumps(result))
            cache[mode] = json.loads(path.read_text())
        if "__error__" in cache[mode]:
            pytest.fail(f"the {mode} matrix run failed: {cache[mode]['__error__']}")
        return cache[mode]

    return get


def cell(result, name):
    entry = result[name]
    assert "error" not in entry, entry.get("traceback", entry.get("error"))
    return entry


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_mirrored_two_cpus_matches_default_strategy(matrix, name):
    result = matrix("mirrored")
    assert result["describe"]["replicas"] == 2
    entry = cell(result["cells"], name)
    assert entry["finite"] and entry["moved"] > 1e-3
    if name in DETERMINISTIC:
        assert entry["max_abs_diff"] <= TOLERANCE
    else:  # random layer inside the model: each replica draws for its own slice
        assert entry["max_abs_diff"] > TOLERANCE


@pytest.mark.slow
def test_upstream_mirrored_cpu_fails_with_xla_or_steps_per_execution(matrix):
    # Keras 3.15.1 / TF 2.21: MirroredStrategy over two logical CPUs raises with
    # jit_compile=True or steps_per_execution=4. When this fails, upstream fixed
    # it: add those settings to the matrix and drop the warning in auto_strategy.
    result = matrix("mirrored")
    assert result["known_failures"] == {
        "jit_compile": "InvalidArgumentError",
        "steps_per_execution": "InvalidArgumentError",
    }
    # ... and auto_strategy warns when it builds that combination's strategy.
    assert any("MirroredStrategy over several CPU devices" in w and "jit_compile=True" in w for w in result["warnings"])


@pytest.mark.slow
def test_upstream_multi_worker_fit_fails_without_the_kerasplus_fix(matrix):
    # keras-team/keras#20585: Keras 3's fit reduces an (x, y) batch with
    # MultiWorkerMirroredStrategy.reduce, which raises. When this fails,
    # upstream fixed it: drop kerasplus.distribute.fix_multi_worker_fit.
    for worker in matrix("multi_worker")["workers"]:
        assert worker["upstream_fit"].startswith("ValueError: Attempt to convert a value (PerReplica")
        assert worker["fixed"] is True


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_multi_worker_two_processes_matches_default_strategy(matrix, name):
    workers = matrix("multi_worker")["workers"]
    for worker in workers:
        assert worker["describe"]["strategy"] == "MultiWorkerMirroredStrategy"
        assert worker["describe"]["replicas"] == 2
        assert "TF_CONFIG names 2 workers" in worker["describe"]["reason"]
        entry = cell(worker["cells"], name)
        assert entry["finite"] and entry["moved"] > 1e-3
    reference_diff = workers[0]["cells"][name]["max_abs_diff"]  # worker 0 trains the reference
    if name in DETERMINISTIC:
        assert reference_diff <= TOLERANCE
    # Both workers hold the same synchronised weights.
    sums = [worker["cells"][name]["weights_sum"] for worker in workers]
    assert sums[0] == pytest.approx(sums[1], rel=1e-6, abs=1e-6)


@pytest.mark.slow
def test_backup_and_restore_resumes_mid_epoch_inside_mirrored_strategy(matrix):
    # Saved at steps 3 and 6 (epoch 1, step 2), killed at 7: the rerun inside
    # the same strategy restores step 6 and ends where an uninterrupted run does.
    entry = cell(matrix("mirrored"), "resume")
    assert entry["restored_from"] == "ckpt-00000001.npz"
    assert entry["epochs_run"] == 2 and entry["steps"] == 12
    assert entry["max_abs_diff"] == 0.0
    assert entry["warnings"] == [] and entry["left_behind"] is None  # checkpoints deleted at the end


@pytest.mark.slow
def test_backup_and_restore_workers_agree_on_the_checkpoint_they_all_have(matrix):
    # Two workers share one backup_dir (each writes its own folder there).
    # Worker 1 lost its newest checkpoint (step 6), as if killed while writing:
    # both resume from step 3. Resuming where each stands instead aborts the
    # next collective (measured: InvalidArgumentError, shape mismatch).
    workers = matrix("multi_worker")["workers"]
    for index, worker in enumerate(workers):
        entry = cell(worker, "resume")
        assert entry["restored_from"] == f"worker-{index}/ckpt-00000000.npz"
        assert entry["epochs_run"] == 3 and entry["steps"] == 12
        assert entry["max_abs_diff"] == 0.0
    assert any("the newest checkpoint every worker has" in w for w in cell(workers[0], "resume")["warnings"])
    assert cell(workers[1], "resume")["warnings"] == []


@pytest.mark.slow
def test_backup_and_restore_fails_on_every_worker_when_one_cannot_read_its_checkpoints(matrix):
    # Worker 1's checkpoints are all truncated: it raises, and worker 0 raises
    # too instead of resuming alone (and then waiting for it at a collective).
    worker0, worker1 = (worker["resume_unreadable"] for worker in matrix("multi_worker")["workers"])
    assert worker1["error"].startswith("ValueError: BackupAndRestore: no checkpoint in")
    assert worker0["error"].startswith("ValueError: BackupAndRestore: another worker could not read its checkpoints")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_xla_and_steps_per_execution_8_match_plain_training(matrix, name):
    entry = cell(matrix("single")["cells"][name], "xla_spe8")
    assert entry["finite"]
    if name in DETERMINISTIC:
        assert entry["max_abs_diff"] <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("policy, compute", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
@pytest.mark.parametrize("name", NAMES)
def test_mixed_precision_outputs_in_compute_dtype_and_float32_losses(matrix, name, policy, compute):
    entry = cell(matrix("single")["cells"][name], policy)
    assert entry["compute_dtype"] == compute
    assert entry["output_dtype"] == compute
    assert entry["loss_dtype"] == "float32"
    assert entry["finite"] and entry["moved"] > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_remat_scope_gives_the_same_gradients(matrix, name):
    entry = cell(matrix("single")["cells"][name], "remat")
    assert entry["remat_layers"] > 0  # the scope did apply
    assert entry["gradient_scale"] > 1e-4
    if name in DETERMINISTIC:
        assert entry["max_abs_diff"] <= TOLERANCE * max(1.0, entry["gradient_scale"])
    else:
        # Found here (Keras 3.15): a random layer inside RematScope draws again
        # when the backward pass recomputes it, so its gradient belongs to a
        # different mask than the forward pass (the loss is the same). Keep
        # random layers out of remat'd models, or in the input pipeline.
        assert entry["max_abs_diff"] > TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["mirrored", "multi_worker"])
def test_scale_for_replicas_reads_two_replicas_from_the_strategy(matrix, mode):
    result = matrix(mode)
    scales = [w["scale"] for w in result["workers"]] if mode == "multi_worker" else [result["scale"]]
    for scale in scales:  # Goyal et al.: 2x the batch, 2x the rate
        assert scale == {"global_batch_size": 64, "learning_rate": pytest.approx(0.2), "replicas": 2}


JAX_CELLS = [(2, name) for name in NAMES] + [(8, name) for name in JAX_8_DEVICE_ROWS]


@pytest.mark.slow
@pytest.mark.parametrize("devices, name", JAX_CELLS)
def test_jax_data_parallel_matches_one_device(matrix, devices, name):
    # keras.distribution.DataParallel over N simulated CPU devices vs no
    # distribution (everything on device 0), same global batch, JAX backend.
    result = matrix(f"jax_data_parallel_{devices}")
    assert result["backend"] == "jax" and result["jax_devices"] == devices
    assert result["describe"]["strategy"] == "DataParallel" and result["describe"]["replicas"] == devices
    entry = cell(result["cells"], name)
    assert entry["replicas"] == devices
    assert entry["finite"] and entry["moved"] > 1e-3
    # Every row matches, the random layer inside the model too: under DataParallel
    # the batch is one global array and the layer draws once for all of it
    # (MirroredStrategy draws per replica; see test_mirrored_two_cpus_matches_default_strategy).
    assert entry["max_abs_diff"] <= TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("devices", [2, 8])
def test_backup_and_restore_resumes_mid_epoch_under_jax_data_parallel(matrix, devices):
    entry = cell(matrix(f"jax_data_parallel_{devices}"), "resume")
    assert entry["restored_from"] == "ckpt-00000001.npz"
    assert entry["epochs_run"] == 2 and entry["steps"] == 12
    assert entry["max_abs_diff"] == 0.0
    assert entry["warnings"] == [] and entry["left_behind"] is None


@pytest.mark.slow
@pytest.mark.parametrize("devices", [2, 8])
def test_scale_for_replicas_reads_the_devices_of_data_parallel(matrix, devices):
    scale = matrix(f"jax_data_parallel_{devices}")["scale"]
    assert scale == {
        "global_batch_size": 32 * devices,
        "learning_rate": pytest.approx(0.1 * devices),
        "replicas": devices,
    }


@pytest.mark.slow
def test_lr_callbacks_cycle_momentum_under_data_parallel_on_jax(matrix):
    # The LR callbacks' default cycle_momentum=True trains under DataParallel on JAX (it refused before
    # issue 15). The matrix rows themselves keep cycle_momentum=False on JAX (`_momentum()` in matrix_runner).
    for name, message in matrix("jax_data_parallel_2")["momentum_refusals"].items():
        assert message == "ok", (name, message)
