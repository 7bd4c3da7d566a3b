"""The cluster path for real: a one-node Slurm on localhost (Debian's munged, slurmctld and slurmd,
started here with their own key, ports, spool and logs under the test's directory: no system
configuration is read or written) runs experiments/slurm/*.sbatch on the CPU build. Jobs run into
their time limit in the middle of a sweep, the scripts' TERM trap requeues them, the next start
resumes the file, and the final file holds what a clean run of the same config holds.

The scripts ask for GPUs in their #SBATCH headers; sbatch's own variables override them, and
SBATCH_GPUS=0 SBATCH_GPUS_PER_TASK=0 is how a CPU partition runs them (docs/cluster.md). Debian's
Open MPI needs Slurm's PMIx plugin: SRUN_MPI=pmix. This node has GresTypes=gpu and no GPU, so
a job that kept the header's request would be refused here."""

import contextlib
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import h5py
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
from kvsim_fixtures import SOURCE_DIR, kvsim_bin  # noqa: E402,F401  (the fixture: the built binary)
from results import content  # noqa: E402  (the content columns a rerun must reproduce)

SCRIPTS = SOURCE_DIR / "experiments/slurm"

NEEDED = ("munged", "munge", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")


def _which(name):
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


_missing = [n for n in NEEDED if not _which(n)]
pytestmark = [
    pytest.mark.skipif(bool(_missing), reason=f"Slurm is not installed ({', '.join(_missing)} not found): "
                       "scripts/setup.sh packages installs slurmctld, slurmd, slurm-client and munge"),
    pytest.mark.skipif(os.geteuid() != 0, reason="slurmd starts jobs only when it runs as root"),
]

# A sweep of 12 points; run.repetitions sets how long each takes (sized per machine below).
CONFIG = """name: slurm_requeue
seed: 20251
model: {layers: 4, heads: 8, kv_heads: 4, head_dim: 64}
cache: {max_positions: 1024, dtype: fp32}
workload: {fill: {positions: 1000}}
run: {warmup: 1, repetitions: REPS, copy_probe_mb: 4}
sweep:
  cache.dtype: [fp32, fp16, bf16, int8, fp8_e4m3, int4]
  cache.layout: [contiguous, paged]
"""
POINTS = 12
# Slurm's smallest time limit is a minute and it checks limits every 30 s: with --time=2 and
# TERM 30 s before the end, TERM reaches the batch shell 60 to 90 s after the start.
TIME_LIMIT = ["--time=2", "--signal=B:TERM@30"]
TERM_LATEST_S = 90
# The node advertises 3 CPUs (config_overrides): three single-threaded jobs at a time, and beside
# them the clean run, on however many cores the machine has (CI: 2).
NODE_CPUS = 3
SHARED_SPEED = 0.6  # about what each of them gets on 2 cores (a short task ends early), against one alone
FINAL_STATES = {"COMPLETED", "FAILED", "TIMEOUT", "CANCELLED", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
                "DEADLINE", "PREEMPTED"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, root: pathlib.Path):
        self.root = root
        self.host = socket.gethostname().split(".")[0]
        self.conf = root / "slurm.conf"
        munge = root / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.socket = munge / "munge.socket"
        for d in ("state", "spool", "log"):
            (root / d).mkdir()
        self.conf.write_text("\n".join([
            "ClusterName=kvsimtest",
            f"SlurmctldHost={self.host}(127.0.0.1)",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}",
            f"StateSaveLocation={root}/state",
            f"SlurmdSpoolDir={root}/spool",
            f"SlurmctldPidFile={root}/slurmctld.pid",
            f"SlurmdPidFile={root}/slurmd.pid",
            f"SlurmctldLogFile={root}/log/slurmctld.log",
            f"SlurmdLogFile={root}/log/slurmd.log",
            "ProctrackType=proctrack/pgid",
            "TaskPlugin=task/none",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "MpiDefault=none",
            "SchedulerType=sched/builtin",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_CPU",
            "SlurmdParameters=config_overrides",
            "GresTypes=gpu",
            "ReturnToService=2",
            "KillWait=5",
            # Finished jobs stay visible to `scontrol show job` for the assertions.
            "MinJobAge=3600",
            "InactiveLimit=0",
            f"NodeName={self.host} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory=2000 State=UNKNOWN",
            f"PartitionName=cpu Nodes={self.host} Default=YES MaxTime=INFINITE State=UP",
            ""]))
        self.env = dict(os.environ, SLURM_CONF=str(self.conf), OMP_NUM_THREADS="1", OMP_PROC_BIND="false")
        self.env.pop("SLURM_JOB_ID", None)
        self.procs = []
        self._start([_which("munged"), "--foreground", "--force", f"--key-file={key}", f"--socket={self.socket}",
                     f"--pid-file={munge}/munged.pid", f"--log-file={root}/log/munged.log",
                     f"--seed-file={munge}/munged.seed"])
        self._wait_for(lambda: self.socket.exists(), "munged's socket")
        self._start([_which("slurmctld"), "-D", "-f", str(self.conf)])
        self._wait_for(lambda: self.sh("scontrol", "ping", check=False).returncode == 0, "slurmctld")
        self._start([_which("slurmd"), "-D", "-f", str(self.conf), "-N", self.host])
        self._wait_for(lambda: self.sh("sinfo", "-h", "-o", "%T").stdout.strip() == "idle", "the node to be idle")

    def _start(self, cmd):
        self.procs.append(subprocess.Popen(cmd, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           start_new_session=True))

    def _wait_for(self, ready, what, timeout=60):
        deadline = time.time() + timeout
        while not ready():
            if time.time() > deadline or any(p.poll() is not None for p in self.procs):
                pytest.fail(f"{what} did not come up; logs:\n{self.logs()}")
            time.sleep(0.3)

    def sh(self, *cmd, check=True, cwd=None, env=None):
        r = subprocess.run([_which(cmd[0]), *map(str, cmd[1:])], env={**self.env, **(env or {})}, cwd=cwd,
                           capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            pytest.fail(f"{' '.join(map(str, cmd))}: {r.stderr.strip()}\n{self.logs()}")
        return r

    def sbatch(self, script, *options, env, cwd):
        r = self.sh("sbatch", "--parsable", "--cpus-per-task=1", *options, SCRIPTS / script,
                    env={"SBATCH_GPUS": "0", "SBATCH_GPUS_PER_TASK": "0", "SRUN_MPI": "pmix", **env}, cwd=cwd)
        return r.stdout.strip().split(";")[0]

    def jobs(self, job_id):
        """Every task of a job (one for a plain job), as scontrol's key=value fields."""
        out = self.sh("scontrol", "-o", "show", "job", job_id).stdout
        return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.strip()]

    def wait(self, job_ids, timeout):
        """Until every task has ended. A requeued job waits two minutes before it is eligible
        again (Slurm's BeginTime); the test starts it at once instead."""
        deadline = time.time() + timeout
        while True:
            tasks = [t for j in job_ids for t in self.jobs(j)]
            for t in tasks:
                if t["JobState"] == "PENDING" and t.get("Reason") == "BeginTime":
                    self.sh("scontrol", "update", f"JobId={t['JobId']}", "StartTime=now", check=False)
            if all(t["JobState"] in FINAL_STATES for t in tasks):
                return tasks
            if time.time() > deadline:
                pytest.fail(f"jobs {job_ids} still running after {timeout} s: "
                            f"{[(t['JobId'], t['JobState'], t.get('Reason')) for t in tasks]}\n{self.logs()}")
            time.sleep(1)

    def logs(self):
        return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-30:])
                         for p in sorted((self.root / "log").glob("*.log")))

    def stop(self):
        if _which("scancel"):
            self.sh("scancel", "--user=root", check=False)
            deadline = time.time() + 30
            while time.time() < deadline and self.sh("squeue", "-h", check=False).stdout.strip():
                time.sleep(0.5)
        self.sh("scontrol", "shutdown", check=False)
        self.procs[0].terminate()  # munged: scontrol does not stop it
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # Whatever is left of this cluster (a slurmstepd, a job's kvsim after an interrupted
        # test) carries this cluster's SLURM_CONF in its environment; nothing else does.
        mark = f"SLURM_CONF={self.conf}".encode()
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if mark in pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # A TERM to pytest (ctest's timeout) still stops the daemons: as an interrupt, fixtures end.
    def interrupt(*_):
        raise KeyboardInterrupt
    previous = signal.signal(signal.SIGTERM, interrupt)
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        yield c
    finally:
        c.stop()
        signal.signal(signal.SIGTERM, previous)


def _seconds(kvsim_bin, cfg, reps, cwd):
    t = time.time()
    subprocess.run([kvsim_bin, "run", cfg, "-o", cwd / f"calibrate{reps}.h5", "--set", f"run.repetitions={reps}", "--set", "sweep=null",
                    "--set", "sweep={cache.dtype: [fp32, int4], cache.layout: [contiguous, paged]}"],
                   cwd=cwd, check=True, capture_output=True,
                   env=dict(os.environ, OMP_NUM_THREADS="1", OMP_PROC_BIND="false"))
    return time.time() - t


@pytest.fixture(scope="module")
def config(kvsim_bin, tmp_path_factory):
    """The sweep, sized on this machine so that one job needs about 1.8 times the longest time
    TERM leaves a start: no first start can finish it, a second one mostly does, and each point
    is short enough for any start. Four of its points (the cheapest and the dearest format, in
    each layout) at 1 and at R repetitions give a repetition's cost; R grows until the
    difference is seconds, not noise."""
    d = tmp_path_factory.mktemp("config")
    probe = d / "probe.yaml"
    probe.write_text(CONFIG.replace("REPS", "1"))
    one = _seconds(kvsim_bin, probe, 1, d)
    reps = 16
    while True:
        extra = _seconds(kvsim_bin, probe, reps, d) - one
        if extra >= 3 or reps >= 4096:
            break
        reps *= 4
    per_rep = max(extra, 1e-3) / (reps - 1) / 4  # seconds a repetition of a point
    target_point_s = 1.8 * TERM_LATEST_S / POINTS * SHARED_SPEED
    reps = max(2, round((target_point_s - one / 4) / per_rep))
    cfg = d / "slurm_requeue.yaml"
    cfg.write_text(CONFIG.replace("REPS", str(reps)))
    return cfg


@contextlib.contextmanager
def _clean_run(kvsim_bin, cfg, out, cwd):
    """The same config run straight through, beside the jobs; stopped if the test ends first."""
    with open(f"{out}.log", "w") as log:  # a file, not a pipe nobody reads while the jobs run
        proc = subprocess.Popen([kvsim_bin, "run", cfg, "-o", out], cwd=cwd, stdout=log, stderr=log,
                                env=dict(os.environ, OMP_NUM_THREADS="1", OMP_PROC_BIND="false"))
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _complete(path):
    with h5py.File(path, "r") as f:
        return int(f.attrs["complete"]), len(f["points"])


def _restarts_in(log: pathlib.Path):
    text = log.read_text(errors="replace")
    return text, len(re.findall(r"time limit near: requeueing", text))


def test_jobs_requeued_at_their_time_limit_resume_to_a_clean_runs_file(cluster, kvsim_bin, config, tmp_path):
    env = {"KVSIM_BIN": kvsim_bin}
    one = cluster.sbatch("one_gpu.sbatch", *TIME_LIMIT, f"--output={tmp_path}/one-%j.log",
                         env={**env, "CONFIG": str(config), "OUT": str(tmp_path / "one.h5")}, cwd=tmp_path)
    # Two array tasks: the first ends well inside its limit, the second runs into it. The last
    # task carries the array's own job id, so a requeue by that id would take the first task
    # back to the queue as well: each task must requeue itself alone.
    short = tmp_path / "short.yaml"
    short.write_text(re.sub(r"repetitions: \d+", "repetitions: 2", config.read_text()))
    listing = tmp_path / "list"
    listing.write_text(f"# a short task, then a long one\n{short} {tmp_path}/task1.h5\n\n{config} {tmp_path}/task2.h5\n")
    arr = cluster.sbatch("array.sbatch", *TIME_LIMIT, "--array=1-2", f"--output={tmp_path}/array-%A_%a.log",
                         env={**env, "CONFIG_LIST": str(listing)}, cwd=tmp_path)

    clean = tmp_path / "clean.h5"
    with _clean_run(kvsim_bin, config, clean, tmp_path) as straight:
        tasks = cluster.wait([one, arr], timeout=1200)
        assert straight.wait(timeout=600) == 0, pathlib.Path(f"{clean}.log").read_text()
    clean_short = tmp_path / "clean_short.h5"
    with _clean_run(kvsim_bin, short, clean_short, tmp_path) as straight:
        assert straight.wait(timeout=600) == 0, pathlib.Path(f"{clean_short}.log").read_text()
    by_name = {"one": next(t for t in tasks if "ArrayTaskId" not in t)}
    by_name.update({f"task{t['ArrayTaskId']}": t for t in tasks if "ArrayTaskId" in t})
    logs = {"one": next(tmp_path.glob("one-*.log")),
            "task1": tmp_path / f"array-{arr}_1.log", "task2": tmp_path / f"array-{arr}_2.log"}
    expected = {"one": content(clean), "task1": content(clean_short), "task2": content(clean)}
    assert sorted(expected["one"]) == sorted(expected["task1"]) == list(range(POINTS))
    for name, t in sorted(by_name.items()):
        text, requeues = _restarts_in(logs[name])
        assert t["JobState"] == "COMPLETED" and t["ExitCode"] == "0:0", f"{name}: {t['JobState']}\n{text}"
        # Slurm's count of requeues is the trap's: nothing else took the job back to the queue.
        assert int(t["Restarts"]) == requeues, f"{name}: Restarts={t['Restarts']}, the log requeued {requeues} times\n{text}"
        if name == "task1":
            assert requeues == 0, f"the short task was requeued:\n{text}"
        else:
            assert requeues >= 1, f"{name} was not requeued at its limit:\n{text}"
        # Each later start resumed: it found the points of the starts before it in the file.
        resumed = [int(n) for n in re.findall(r"(\d+) already in", text)]
        assert len(resumed) == requeues and all(n > 0 for n in resumed) and resumed == sorted(resumed), text
        assert not resumed or resumed[-1] < POINTS, text
        out = tmp_path / f"{name}.h5"
        assert _complete(out) == (1, POINTS)
        with h5py.File(out, "r") as f:
            assert int(f.attrs["resumed"]) == requeues  # one resume a requeue
        assert content(out) == expected[name], f"{name}: the job's file differs from a clean run's"
    assert not list(tmp_path.glob("*.partial*")) and not list(tmp_path.glob("*.lock"))


def test_mpi_script_runs_ranks_through_srun_to_a_clean_runs_file(cluster, kvsim_bin, tmp_path):
    """mpi.sbatch: two ranks started by srun share the sweep's points; rank 0 writes the one file."""
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(CONFIG.replace("REPS", "2"))
    out = tmp_path / "mpi.h5"
    job = cluster.sbatch("mpi.sbatch", "--ntasks-per-node=2", "--time=10", f"--output={tmp_path}/mpi-%j.log",
                         env={"KVSIM_BIN": kvsim_bin, "CONFIG": str(cfg), "OUT": str(out)}, cwd=tmp_path)
    clean = tmp_path / "clean.h5"
    with _clean_run(kvsim_bin, cfg, clean, tmp_path) as straight:
        [t] = cluster.wait([job], timeout=600)
        assert straight.wait(timeout=600) == 0, pathlib.Path(f"{clean}.log").read_text()
    log = next(tmp_path.glob("mpi-*.log")).read_text(errors="replace")
    assert t["JobState"] == "COMPLETED" and t["ExitCode"] == "0:0", log
    assert "2 ranks" in log, log
    with h5py.File(out, "r") as f:
        assert int(f.attrs["mpi_ranks"]) == 2 and int(f.attrs["complete"]) == 1
        assert set(f["summary"]["rank"][()]) == {0, 1}
    assert content(out) == content(clean)
