#!/usr/bin/env python3
"""Keep a training job on a rented box from wasting money once nobody watches.

    python3 watchdog.py RUN_SH_PID

run.sh starts it, detached in a session of its own (so `correctly train cancel`
ends the job but not the watchdog), when state/watch.json exists. It needs no
connection to the client: everything it does happens on the box.

  - max duration: after max_duration_s from the launch, the job is asked to
    stop (TERM: train.py saves a checkpoint at the end of the current step and
    exits); whatever is left after kill_grace_s is killed.
  - stall: in the training phase, no new log line and no progress beat
    (state/progress, which train.py touches as it trains) for stall_timeout_s
    marks the job stalled and ends it the same way.
  - stop: when the job has ended (any way) the box is stopped with the
    provider's own tool (runpodctl stop pod, vastai stop instance) or the
    user's command, once `correctly train pull` has fetched the outputs
    (state/pulled, written after the job ended), or stop grace_s after the end
    if nobody pulled them. Never destroyed: a stopped box keeps its disk.

What it decided is in state/watchdog.json, which `correctly train status`
reads; its own lines go to logs/train.log prefixed [watchdog]. Standard library
only; Python 3.8 and later.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

STATE = "state"


def now():
    return time.time()


def log(message):
    line = "[watchdog] %s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), message)
    try:
        with open(os.path.join("logs", "train.log"), "a", encoding="utf-8") as f:
            f.write(line)
    except OSError:
        pass


def write_json_atomic(path, obj):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, path)


def write_text_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def mtime(path):
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


# ---------------------------------------------------------------------------
# The job's processes (the same rules as `correctly train cancel`)


def proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    return s.rsplit(")", 1)[1].split()


class Job(object):
    """run.sh (the session leader) and every process of its group, session and descent."""

    def __init__(self, leader):
        self.leader = leader
        st = proc_stat(leader)
        self.start = st[19] if st else None
        self.known = {}

    def leader_alive(self):
        st = proc_stat(self.leader)
        return st is not None and st[0] != "Z" and st[19] == self.start

    def scan(self):
        procs = {}
        for d in os.listdir("/proc"):
            if d.isdigit():
                st = proc_stat(int(d))
                if st is not None and st[0] != "Z":
                    procs[int(d)] = st
        if self.start is not None:
            for p, st in procs.items():
                if int(st[2]) == self.leader or int(st[3]) == self.leader:
                    self.known.setdefault(p, st[19])
        grew = True
        while grew:
            grew = False
            for p, st in procs.items():
                if p not in self.known and int(st[1]) in self.known and p != os.getpid():
                    self.known[p] = st[19]
                    grew = True
        return [p for p, t in self.known.items() if p in procs and procs[p][19] == t and p != os.getpid()]

    def signal(self, sig):
        alive = self.scan()
        for p in alive:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        return alive


# ---------------------------------------------------------------------------
# Stopping the box


def pid1_environ():
    """The container's own environment: sessions over SSH often lack the provider's variables."""
    try:
        with open("/proc/1/environ", "rb") as f:
            raw = f.read()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return env


def provider_env(names):
    """Variables from our environment, else from the container's."""
    env = dict(os.environ)
    outer = None
    for name in names:
        if not env.get(name):
            if outer is None:
                outer = pid1_environ()
            if outer.get(name):
                env[name] = outer[name]
    return env


def stop_command(stop):
    """Return (argv, env, display, cleanup) for the stop plan."""
    how = stop.get("how")
    if how == "runpod":
        env = provider_env(["RUNPOD_POD_ID", "RUNPOD_API_KEY"])
        pod = stop.get("pod") or env.get("RUNPOD_POD_ID")
        argv = ["runpodctl", "stop", "pod", pod]
        return argv, env, " ".join(argv), None
    if how == "vast":
        env = provider_env(["CONTAINER_ID", "CONTAINER_API_KEY"])
        instance = stop.get("instance") or env.get("CONTAINER_ID")
        key = env.pop("CONTAINER_API_KEY", None)
        home = None
        if key:
            # vastai reads its key from a file in the home directory; a private one keeps the
            # instance's key off every command line
            home = tempfile.mkdtemp(prefix="correctly-vast-")
            os.makedirs(os.path.join(home, ".config", "vastai"))
            for path in (os.path.join(home, ".config", "vastai", "vast_api_key"), os.path.join(home, ".vast_api_key")):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w") as f:
                    f.write(key)
            env["HOME"] = home
            env["XDG_CONFIG_HOME"] = os.path.join(home, ".config")
        argv = ["vastai", "stop", "instance", str(instance)]
        return argv, env, " ".join(argv), home
    if how == "command":
        command = read_text(os.path.join(STATE, "stop_command")) or ""
        return ["bash", "-c", command], dict(os.environ), command, None
    return None, None, None, None


def run_stop(stop, record):
    tries = max(1, int(stop.get("tries", 3)))
    wait = float(stop.get("retry_s", 30))
    for attempt in range(1, tries + 1):
        argv, env, display, cleanup = stop_command(stop)
        if argv is None:
            record.update(box="stop_failed", stop_output="no way to stop this box")
            return
        record.update(box="stopping", stop_command=display, stop_attempt=attempt, stop_requested_at=now())
        save(record)
        log("stopping the box: %s (attempt %d of %d)" % (display, attempt, tries))
        try:
            p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=120)
            code, out = p.returncode, p.stdout.decode("utf-8", "replace")
        except (OSError, subprocess.TimeoutExpired) as e:
            code, out = 127, "%s: %s" % (e.__class__.__name__, e)
        finally:
            if cleanup:
                shutil.rmtree(cleanup, ignore_errors=True)
        record.update(stop_exit=code, stop_output=out[-2000:])
        if code == 0:
            record["box"] = "stop_requested"
            save(record)
            log("stop requested (exit 0): %s" % out.strip()[-300:])
            return
        log("stop command failed with status %d: %s" % (code, out.strip()[-300:]))
        record["box"] = "stop_failed"
        save(record)
        if attempt < tries:
            time.sleep(wait)


# ---------------------------------------------------------------------------


RECORD_PATH = os.path.join(STATE, "watchdog.json")


def save(record):
    try:
        write_json_atomic(RECORD_PATH, record)
    except OSError:
        pass


def remove_secrets():
    folder = os.path.join(STATE, "secrets")
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    os.chdir(here)
    try:
        with open(os.path.join(STATE, "watch.json"), encoding="utf-8") as f:
            params = json.load(f)
    except (OSError, ValueError) as e:
        sys.stderr.write("watchdog: no usable state/watch.json (%s): nothing to watch\n" % e)
        return 0
    job = Job(int(argv[1]))
    started = now()
    poll = max(0.2, float(params.get("poll_s", 5)))
    max_duration = float(params.get("max_duration_s") or 0)
    stall_timeout = float(params.get("stall_timeout_s") or 0)
    kill_grace = float(params.get("kill_grace_s", 30))
    stop = params.get("stop") or None

    record = {"pid": os.getpid(), "started_at": started, "box": "running"}
    if max_duration:
        record["deadline"] = started + max_duration
    if stop:
        record["stop_grace_s"] = float(stop.get("grace_s", 3600))
    save(record)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    kill_at = None
    while True:
        if not os.path.isdir(STATE):
            return 0  # the run directory was removed
        ended = os.path.exists(os.path.join(STATE, "exit_code")) or not job.leader_alive()
        if ended:
            if record.get("ended_by"):
                # what the watchdog stopped must not outlive it: nothing of the job is left
                for _ in range(50):
                    if not job.signal(signal.SIGKILL):
                        break
                    time.sleep(0.1)
            break
        t = now()
        if not record.get("ended_by"):
            reason = None
            if max_duration and t >= started + max_duration:
                reason = "max_duration"
                log("max duration of %ds reached: stopping the job (train.py saves a checkpoint first)" % max_duration)
            elif stall_timeout and read_text(os.path.join(STATE, "phase")) == "running":
                last = max(x for x in (mtime(os.path.join("logs", "train.log")), mtime(os.path.join(STATE, "progress")),
                                       mtime(os.path.join(STATE, "phase")), started) if x is not None)
                if t - last > stall_timeout:
                    reason = "stalled"
                    log("no progress for %ds (no new log line, no progress beat): the job is stalled; ending it" % (t - last))
            if reason:
                record.update(ended_by=reason, ended_by_at=t)
                write_text_atomic(os.path.join(STATE, "ended_by"), reason + "\n")
                save(record)
                job.signal(signal.SIGTERM)
                kill_at = t + kill_grace
        elif kill_at is not None and t >= kill_at:
            killed = job.signal(signal.SIGKILL)
            if killed:
                log("killed %d process(es) still running %ds after TERM" % (len(killed), kill_grace))
            kill_at = t + 1
        time.sleep(poll)

    ended_at = now()
    if record.get("ended_by") and not os.path.exists(os.path.join(STATE, "exit_code")):
        # run.sh was killed before it could record the end
        write_text_atomic(os.path.join(STATE, "exit_code"), "137\n")
        write_text_atomic(os.path.join(STATE, "phase"), "done\n")
    remove_secrets()
    record["ended_at"] = ended_at
    if not stop:
        record["box"] = "left_running"
        save(record)
        return 0

    grace = float(stop.get("grace_s", 3600))
    record.update(box="waiting_for_pull", stop_at=ended_at + grace)
    save(record)
    log("the job has ended: the box stops once the outputs are pulled, or at %s UTC if they are not" %
        time.strftime("%Y-%m-%d %H:%M", time.gmtime(ended_at + grace)))
    pulled = os.path.join(STATE, "pulled")
    while True:
        m = mtime(pulled)
        if m is not None and m >= ended_at - 1:
            record["stop_reason"] = "pulled"
            log("the outputs were pulled")
            break
        if now() >= ended_at + grace:
            record["stop_reason"] = "grace"
            log("nobody pulled the outputs within %ds of the end" % grace)
            break
        if not os.path.isdir(STATE):
            return 0  # the run directory was removed
        time.sleep(poll)
    run_stop(stop, record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
