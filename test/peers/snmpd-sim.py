#!/usr/bin/python3
"""snmpd pass_persist program for standby's tests: serves IF-MIB ifTable / ifXTable, CISCO-ENVMON-MIB's
supply, fan and temperature tables, and ENTITY-SENSOR-MIB's entPhySensorTable with ENTITY-MIB's entPhysicalDescr
and entPhysicalName for its rows (state key "sensors") from a JSON state file (re-read when its mtime changes), so
a test flips an interface or a PSU by rewriting the file atomically; SETs of ifAdminStatus are written back to it
(an interface with "admin_locked": true answers them DONE and keeps its status, as a device that ignores a SET
would).

Usage (snmpd.conf): pass_persist -p 1 .1.3.6.1.2.1.2.2 /usr/bin/python3 snmpd-sim.py STATE.json
"""
import json
import os
import sys

STATE = sys.argv[1]
IF = "1.3.6.1.2.1.2.2.1"      # ifEntry
IFX = "1.3.6.1.2.1.31.1.1.1"  # ifXEntry
ENV = "1.3.6.1.4.1.9.9.13.1"  # ciscoEnvMonObjects
SENSOR = "1.3.6.1.2.1.99.1.1.1"  # ENTITY-SENSOR-MIB entPhySensorEntry
PHYS = "1.3.6.1.2.1.47.1.1.1.1"  # ENTITY-MIB entPhysicalEntry

state = {}
mtime = None


def load():
    global state, mtime
    try:
        m = os.stat(STATE).st_mtime_ns
    except OSError:
        return
    if m != mtime:
        with open(STATE) as f:
            state = json.load(f)
        mtime = m


def save():
    global mtime
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, STATE)
    mtime = os.stat(STATE).st_mtime_ns


def oid_key(oid):
    return tuple(int(x) for x in oid.strip(".").split(".") if x)


def rows():
    """Every (oid, type, value) served, sorted by OID."""
    out = []
    for i in state.get("if", []):
        n = i["index"]
        cols = {
            1: ("integer", n), 2: ("string", i.get("descr", "")), 3: ("integer", i.get("type", 6)),
            4: ("integer", i.get("mtu", 1500)), 5: ("gauge", min(i.get("speed", 1000000000), 4294967295)),
            7: ("integer", i.get("admin", 1)), 8: ("integer", i.get("oper", 1)),
            10: ("counter", i.get("in_octets", 0) % 4294967296), 13: ("counter", i.get("in_discards", 0)),
            14: ("counter", i.get("in_errors", 0)), 16: ("counter", i.get("out_octets", 0) % 4294967296),
            19: ("counter", i.get("out_discards", 0)), 20: ("counter", i.get("out_errors", 0)),
        }
        for c, (t, v) in cols.items():
            out.append((f"{IF}.{c}.{n}", t, v))
        xcols = {
            1: ("string", i.get("name", "")), 6: ("counter64", i.get("in_octets", 0)),
            10: ("counter64", i.get("out_octets", 0)), 15: ("gauge", i.get("speed", 1000000000) // 1000000),
            18: ("string", i.get("alias", "")),
        }
        for c, (t, v) in xcols.items():
            out.append((f"{IFX}.{c}.{n}", t, v))
    for table, cols in (("temp", {2: "descr", 3: "value", 4: "threshold", 6: "state"}),
                        ("fan", {2: "descr", 3: "state"}), ("psu", {2: "descr", 3: "state", 4: "source"})):
        entry = {"temp": 3, "fan": 4, "psu": 5}[table]
        for r in state.get(table, []):
            for c, k in cols.items():
                v = r.get(k, 1 if k in ("state", "source") else 0)
                t = "string" if k == "descr" else ("gauge" if k in ("value", "threshold") else "integer")
                out.append((f"{ENV}.{entry}.1.{c}.{r['index']}", t, v))
    for r in state.get("sensors", []):
        n = r["index"]
        cols = {1: ("integer", r.get("type", 8)), 2: ("integer", r.get("scale", 9)),
                3: ("integer", r.get("precision", 0)), 4: ("integer", r.get("value", 0)),
                5: ("integer", r.get("status", 1))}
        for c, (t, v) in cols.items():
            out.append((f"{SENSOR}.{c}.{n}", t, v))
        out.append((f"{PHYS}.2.{n}", "string", r.get("descr", "")))
        out.append((f"{PHYS}.7.{n}", "string", r.get("name", "")))
    out.sort(key=lambda r: oid_key(r[0]))
    return out


def answer(r):
    sys.stdout.write(f".{r[0]}\n{r[1]}\n{r[2]}\n")


def main():
    base = oid_key(sys.argv[2]) if len(sys.argv) > 2 else ()
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        cmd = line.strip().lower()
        if cmd == "":
            continue  # snmpd ends a `set` with an empty line: it wants no answer to it
        if cmd == "ping":
            sys.stdout.write("PONG\n")
        elif cmd in ("get", "getnext"):
            oid = oid_key(sys.stdin.readline())
            load()
            found = None
            for r in rows():
                k = oid_key(r[0])
                if base and k[: len(base)] != base:
                    continue
                if (cmd == "get" and k == oid) or (cmd == "getnext" and k > oid):
                    found = r
                    break
            if found:
                answer(found)
            else:
                sys.stdout.write("NONE\n")
        elif cmd == "set":
            oid = sys.stdin.readline().strip().strip(".")
            value = sys.stdin.readline().strip().split(None, 1)
            load()
            done = changed = False
            if oid.startswith(IF + ".7.") and value and value[0] == "integer":
                n = int(oid.rsplit(".", 1)[1])
                for i in state.get("if", []):
                    if i["index"] == n and i.get("admin_locked"):
                        done = True  # answered DONE, but the port keeps its status (a device that ignores it)
                    elif i["index"] == n:
                        i["admin"] = int(value[1])
                        i["oper"] = 1 if i["admin"] == 1 else 2
                        done = changed = True
                if changed:
                    save()
            sys.stdout.write("DONE\n" if done else "not-writable\n")
        else:
            sys.stdout.write("NONE\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
