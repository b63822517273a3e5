#!/usr/bin/env python3
"""Differential test: random vfio-ap-sim scripts, run by the simulator (the C++
model) and by oracle.py (an independent reading of the reference); their
standard outputs must be equal.

    differential.py SIM [--seeds N] [--first S]

Two generators, each seeded deterministically: `messy` writes malformed
numbers, masks and ids as often as good ones; `busy` builds a host with
queues, three mdevs and two guests and then assigns, unassigns, binds,
unbinds, changes the host configuration, injects ZAPQ faults, opens and
closes. On the first difference it prints the smallest script (by removing
lines) that still differs, with both outputs, and exits 1.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import oracle  # noqa: E402

UUIDS = ["11111111-0000-4000-8000-00000000000%d" % i for i in range(3)]
TYPE = "/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough"
MDEV = "/sys/devices/vfio_ap/matrix/%s/%s"
STORES = ["assign_adapter", "assign_domain", "assign_control_domain",
          "unassign_adapter", "unassign_domain", "unassign_control_domain"]


def messy(r):
    def num():
        return r.choice([str(r.randint(0, 8)), hex(r.randint(0, 300)), "0x", "08", "-1",
                         "0xff", "256", "99999999999999999999", "+2", "010", "x5"])

    def id_list():
        return ",".join(r.choice([str(r.randint(0, 6)), "%d-%d" % (r.randint(0, 3), r.randint(0, 6)),
                                  "0x%x" % r.randint(0, 7)]) for _ in range(r.randint(0, 3)))

    def mask():
        return r.choice(["0x", "", "x", "0x" + "".join(r.choice("0123456789abcdefF")
                                                        for _ in range(r.randint(0, 66)))])

    def apqn():
        return "%02x.%04x" % (r.randint(0, 7), r.randint(0, 7))

    lines = []
    for _ in range(r.randint(5, 80)):
        u = r.choice(UUIDS)
        k = r.randint(0, 20)
        if k == 0:
            lines.append("qci " + " ".join(r.choice(["apm=", "aqm=", "adm="]) + id_list()
                                           for _ in range(r.randint(1, 3)))
                         + r.choice(["", " apxa=0", " apxa=1", " na=%d" % r.randint(0, 255),
                                     " nd=%d" % r.randint(0, 255)]))
        elif k == 1:
            lines.append("echo %s > %s/create" % (u, TYPE))
        elif k == 2:
            lines.append("echo 1 > " + MDEV % (u, "remove"))
        elif k in (3, 4, 5):
            lines.append("echo %s > %s" % (num(), MDEV % (u, r.choice(STORES))))
        elif k == 6:
            lines.append("echo %s%s,%s,%s > %s" % (r.choice(["", "-n "]), mask(), mask(), mask(),
                                                  MDEV % (u, "ap_config")))
        elif k == 7:
            lines.append("cat " + MDEV % (u, r.choice(["matrix", "guest_matrix", "ap_config",
                                                      "control_domains"])))
        elif k == 8:
            lines.append("echo %s%d > /sys/bus/ap/%s" % (r.choice(["+", "-", ""]), r.randint(0, 8),
                                                       r.choice(["apmask", "aqmask"])))
        elif k == 9:
            lines.append("echo %s > /sys/bus/ap/drivers/vfio_ap/%s" % (apqn(), r.choice(["bind", "unbind"])))
        elif k == 10:
            lines.append("cat /sys/bus/ap/devices/%s/status" % apqn())
        elif k == 11:
            lines.append("kvm %s g%d" % (r.choice(["create", "destroy", "refs", "crycb"]), r.randint(0, 2)))
        elif k == 12:
            lines.append("vfio open %s g%d" % (u, r.randint(0, 2)))
        elif k == 13:
            lines.append("vfio close %s" % u)
        elif k == 14:
            lines.append("pqap g%d %s" % (r.randint(0, 2), apqn()))
        elif k == 15:
            lines.append("zapq-fault %s %d" % (apqn(), r.choice([0, 1, 3, 4, 6])))
        elif k == 16:
            lines.append("check")
        elif k == 17:
            lines.append("echo -0-255 > /sys/bus/ap/apmask")
        else:
            lines.append("echo 0x0 > /sys/bus/ap/%s" % r.choice(["apmask", "aqmask"]))
    return lines


def busy(r):
    def apqn():
        return "%02x.%04x" % (r.randint(0, 6), r.randint(0, 6))

    def span():
        return sorted([r.randint(0, 6), r.randint(0, 6)])

    lines = ["echo 0x0 > /sys/bus/ap/apmask", "qci apm=0-5 aqm=0-5 adm=0-5"]
    lines += ["echo %s > %s/create" % (u, TYPE) for u in UUIDS]
    lines += ["kvm create g0", "kvm create g1"]
    for _ in range(r.randint(20, 150)):
        u = r.choice(UUIDS)
        k = r.randint(0, 16)
        if k == 0:
            lines.append("qci apm=%d-%d aqm=%d-%d adm=%d-%d" % tuple(span() + span() + span()))
        elif k in (1, 2, 3, 4, 5):
            lines.append("echo %d > %s" % (r.randint(0, 6), MDEV % (u, r.choice(STORES + STORES[:2]))))
        elif k == 6:
            lines.append("echo 0x%x,0x%x,0x%x > %s" % (r.randint(0, 255), r.randint(0, 255),
                                                      r.randint(0, 255), MDEV % (u, "ap_config")))
        elif k == 7:
            lines.append("cat " + MDEV % (u, r.choice(["guest_matrix", "ap_config"])))
        elif k == 8:
            lines.append("echo %s%d > /sys/bus/ap/%s" % (r.choice(["+", "-"]), r.randint(0, 6),
                                                       r.choice(["apmask", "aqmask"])))
        elif k == 9:
            lines.append("echo %s > /sys/bus/ap/drivers/vfio_ap/%s" % (apqn(), r.choice(["bind", "unbind"])))
        elif k == 10:
            lines.append("cat /sys/bus/ap/devices/%s/status" % apqn())
        elif k == 11:
            lines.append("kvm crycb g%d" % r.randint(0, 1))
        elif k == 12:
            lines.append("vfio open %s g%d" % (u, r.randint(0, 1)))
        elif k == 13:
            lines.append("vfio close %s" % u)
        elif k == 14:
            lines.append("pqap g%d %s" % (r.randint(0, 1), apqn()))
        elif k == 15:
            lines.append("zapq-fault %s %d" % (apqn(), r.choice([0, 0, 1, 3, 4, 6])))
        else:
            lines.append("echo 1 > %s" % (MDEV % (u, "remove")))
            lines.append("echo %s > %s/create" % (u, TYPE))
    lines.append("check")
    return lines


def run_sim(sim, text):
    with tempfile.NamedTemporaryFile("w", suffix=".sim", delete=False) as f:
        f.write(text)
        path = f.name
    try:
        done = subprocess.run([sim, path], capture_output=True, text=True, timeout=120)
    finally:
        os.unlink(path)
    return done.stdout, done.returncode, done.stderr


def differs(sim, lines):
    text = "\n".join(lines) + "\n"
    got, status, _ = run_sim(sim, text)
    return got != oracle.run(text) or status != 0


def shrink(sim, lines):
    """The shortest prefix that differs, then drop every line not needed."""
    end = 1
    while not differs(sim, lines[:end]):
        end += 1
    lines = lines[:end]
    i = 0
    while i < len(lines) - 1:
        trial = lines[:i] + lines[i + 1:]
        if differs(sim, trial):
            lines = trial
        else:
            i += 1
    return lines


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sim")
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--first", type=int, default=1)
    args = ap.parse_args()
    runs = 0
    for seed in range(args.first, args.first + args.seeds):
        for name, generate in (("messy", messy), ("busy", busy)):
            lines = generate(random.Random("%s-%d" % (name, seed)))
            text = "\n".join(lines) + "\n"
            got, status, errors = run_sim(args.sim, text)
            want = oracle.run(text)
            runs += 1
            if got == want and status == 0:
                continue
            small = shrink(args.sim, lines)
            small_text = "\n".join(small) + "\n"
            got, status, errors = run_sim(args.sim, small_text)
            print("differential: %s seed %d differs (exit status %d); smallest script:" % (name, seed, status))
            print(small_text)
            print("--- simulator:\n%s--- oracle:\n%s--- simulator stderr:\n%s" % (got, oracle.run(small_text), errors))
            return 1
    print("differential: %d scripts, simulator == oracle" % runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
