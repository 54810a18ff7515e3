"""What the benchmark reads of a running server: CPU time, peak memory, workers, its log."""

import os
import signal
from pathlib import Path

from testing.processes import ROOT, Server


class CouldNotMeasure(Exception):
    """A server or a tool failed, so there is no number to report."""


def command(kind, module):
    """`module` (scenario-N, or bench's floor_app) on "dev" (`python scenario-N.py`, what the
    tutorial runs) or "gunicorn" (the README's production command, reading gunicorn.conf.py)."""
    floor = module == "floor_app"
    if kind == "dev":
        return [f"bench/{module}.py" if floor else f"{module}.py"]
    path = ["--pythonpath", "bench"] if floor else []
    return ["-m", "gunicorn", *path, f"{module}:create_app()"]


class Measured(Server):
    """A server of the project's folder, started as the benchmark needs it, and measured."""

    stop_signal = signal.SIGINT  # Gunicorn's quick shutdown; SIGTERM waits for idle keep-alives

    def __init__(self, label, kind, module, settings, log):
        self.settings = settings
        super().__init__(
            ROOT, command(kind, module), settings, log=log, ready="/webhooks/answer", label=label
        )
        if self.first_status != 200:
            self.stop()
            raise CouldNotMeasure(f"{label}: the first answer webhook got {self.first_status}")

    def workers(self):
        """Gunicorn's worker pids (its arbiter's children); none for the development server."""
        return children(self.process.pid)

    def cpu_seconds(self):
        """CPU time (user + system) of the server's processes so far, threads included."""
        return sum(cpu_seconds(pid) for pid in [self.process.pid, *self.workers()])

    def bytes_written(self):
        """Bytes each Gunicorn worker has written so far, by pid (/proc/PID/io's wchar)."""
        return {pid: int(proc(pid, "io").split("wchar:")[1].split()[0]) for pid in self.workers()}

    def memory_mb(self):
        """Peak memory in MB ("peak") and its parts: see bench/README.md for why these."""
        pid, workers = self.process.pid, self.workers()
        if not workers:
            return {"peak": vm_hwm_mb(pid), "server_hwm": vm_hwm_mb(pid)}
        largest, worker = max((vm_hwm_mb(worker), worker) for worker in workers)
        others = sum(private_mb(other) for other in workers if other != worker)
        mb = {"workers": len(workers), "worker_hwm": largest, "other_workers_private": others}
        mb |= {"arbiter_private": private_mb(pid), "arbiter_hwm": vm_hwm_mb(pid)}
        return mb | {"peak": largest + others + mb["arbiter_private"]}


def proc(pid, name):
    return Path(f"/proc/{pid}/{name}").read_text()


def after_comm(pid):
    """/proc/PID/stat's fields after "pid (comm)": comm may hold spaces and parentheses."""
    stat = proc(pid, "stat")
    return stat[stat.rindex(")") + 2 :].split()


def children(pid):
    return sorted(int(entry.name) for entry in Path("/proc").iterdir() if parent(entry) == pid)


def parent(entry):
    try:
        return entry.name.isdigit() and int(after_comm(entry.name)[1])
    except OSError:
        return None  # the process ended while we looked


def cpu_seconds(pid):
    utime, stime = after_comm(pid)[11:13]  # fields 14 and 15 of stat
    return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")


def private_mb(pid):
    """Resident memory that only this process maps, in MB (Linux 4.14+)."""
    fields = dict(line.split(":", 1) for line in proc(pid, "smaps_rollup").splitlines()[1:])
    return sum(int(fields[name].split()[0]) for name in ("Private_Clean", "Private_Dirty")) / 1024


def vm_hwm_mb(pid):
    return int(proc(pid, "status").split("VmHWM:")[1].split()[0]) / 1024  # the kernel's kB
