"""Checks the stand-in's output formats against output recorded from real
PBS servers (recorded/, see recorded/SOURCES.md) and against the rules of
OpenPBS's qstat.c and pbs_json.c. No daemon needed:

    python3 -m unittest test_formats      (from testdata/pbs)
"""

import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

from pbsemu import render, units  # noqa: E402


def recorded(name):
    with open(os.path.join(HERE, "recorded", name), encoding="utf-8") as f:
        return f.read()


def attributes(text):
    """Undoes qstat -f wrapping (a client joins "\\n\\t") and splits each
    '    name[.resource] = value' line."""
    out = []
    for line in text.replace("\n\t", "").splitlines():
        key, _, value = line.strip().partition(" = ")
        name, _, resource = key.partition(".")
        out.append((name, resource or None, value))
    return out


class RecordedTest(unittest.TestCase):
    def test_full_attribute_wrapping(self):
        for name in ("qstat-f-naqf.txt", "qstat-f-katana.txt"):
            with self.subTest(name):
                want = recorded(name)
                got = "".join(render.prt_attr(n, r, v) + "\n" for n, r, v in attributes(want))
                self.assertEqual(got, want)

    def test_json_when_server_is_down(self):
        want = recorded("qstat-json-server-down.txt")
        w = render.JSONWriter()
        render.json_header(w, 1750053827, "6cfab3a0b8ac")
        w.end()  # qstat closes the (never opened) Jobs object
        got = w.generate()
        self.assertEqual(got.rstrip("\n"), want.rstrip("\n"))
        self.assertFalse(got.endswith("\n"), "generate_json() prints no newline here")
        self.assertEqual(json.loads(got)["pbs_version"], "22.05.11")

    def test_default_listing(self):
        lines = recorded("qstat-listing-azhop.txt").splitlines(keepends=True)
        self.assertEqual("".join(lines[:2]), render.DEFAULT_HEADER)
        rows = [
            (lines[2], {"id": "7.scheduler", "name": "STDIN", "user": "clusteradmin",
                        "used": {"cput": "03:24:08"}, "state": "R", "queue": "workq"}),
            (lines[3], {"id": "8.scheduler", "name": "OPM", "user": "clusteradmin",
                        "state": "Q", "queue": "workq"}),
        ]
        for want, job in rows:
            with self.subTest(job["id"]):
                self.assertEqual(render.listing_row(job).rstrip(), want.rstrip())


class RulesTest(unittest.TestCase):
    def test_listing_truncation(self):
        # qstat.c: ids keep the first label of the server and are cut at 17
        # columns, names of 16 or more characters at 15 plus '*'.
        cases = [
            ("5.pbsserver.example.org", "short", "5.pbsserver"),
            ("123456789.polaris-pbs-01", "short", "123456789.polari*"),
            ("5.s", "exactly16chars__", "exactly16chars_*"),
            ("5.s", "fifteen_chars__", "fifteen_chars__"),
        ]
        for jid, name, want in cases:
            with self.subTest(jid=jid, name=name):
                row = render.listing_row({"id": jid, "name": name, "user": "u",
                                          "state": "Q", "queue": "q"})
                self.assertIn(want + " ", row)

    def test_json_value_types(self):
        # pbs_json.c: a value strtod() reads whole and without a leading
        # zero is a number; everything else is a string.
        cases = [("0", "0"), ("92", "92"), ("-29", "-29"), ("271", "271"),
                 ("00:00:03", '"00:00:03"'), ("True", '"True"'), ("1:ncpus=2", '"1:ncpus=2"'),
                 ("005", '"005"'), ("0.5", "0.5"), ("4gb", '"4gb"'), ("", '""'),
                 ('say "hi"', '"say \\"hi\\""'), ("a\\,b", '"a,b"')]
        for value, want in cases:
            with self.subTest(value=value):
                self.assertEqual(render.JSONWriter._typed(value, "auto"), want)

    def test_json_job_name_is_always_a_string(self):
        w = render.JSONWriter()
        render.json_header(w, 1, "s")
        w.obj("Jobs")
        job = {"id": "1.s", "name": "123", "user": "u", "host": "h", "state": "Q",
               "substate": 10, "queue": "q", "server": "s", "ctime": 0, "mtime": 0, "qtime": 0,
               "error_path": "h:/e", "output_path": "h:/o", "hold": "n", "join": "n",
               "keep": "n", "mail_points": "a", "priority": "0", "rerunable": "True",
               "resources": {"ncpus": "1", "walltime": "00:01:00"},
               "variable_list": "PBS_O_HOME=/h,X=a\\,b,N=7", "est_start": 0}
        render.json_job(w, job)
        w.end()
        doc = json.loads(w.generate())["Jobs"]["1.s"]
        self.assertEqual(doc["Job_Name"], "123")
        self.assertEqual(doc["Resource_List"], {"ncpus": 1, "walltime": "00:01:00"})
        self.assertEqual(doc["Variable_List"], {"PBS_O_HOME": "/h", "X": "a,b", "N": 7})
        self.assertEqual(doc["estimated"], {"start_time": "UNKNOWN"})
        self.assertEqual(doc["substate"], 10)

    def test_units(self):
        times = [("3", 3), ("1:30", 90), ("24:00:00", 86400), ("100:00:00", 360000)]
        for s, secs in times:
            with self.subTest(time=s):
                self.assertEqual(units.parse_time(s), secs)
        for bad in ("abc", "1:2:3:4", "-1", ""):
            with self.subTest(bad=bad):
                self.assertRaises(units.UnitError, units.parse_time, bad)
        self.assertEqual(units.fmt_time(86400), "24:00:00")
        self.assertEqual(units.canonical_resource("mem", "4GB"), "4gb")
        self.assertEqual(units.parse_size_kb("1gb"), 1048576)
        self.assertEqual(units.parse_select("2:ncpus=1:mem=1gb+1:ncpus=2"),
                         [(2, {"ncpus": "1", "mem": "1gb"}), (1, {"ncpus": "2"})])
        self.assertRaises(units.UnknownResource, units.parse_select, "1:foo=1")
        self.assertRaises(units.UnitError, units.parse_select, "1:walltime=10")


if __name__ == "__main__":
    unittest.main()
