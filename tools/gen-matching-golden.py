#!/usr/bin/env python3
"""Records the real Amanda 3.5.1's answers for its matching functions and dump
specifications into tests/golden/matching/*.txt, for tests/matching_vs_amanda.rs.

Needs Amanda 3.5.1 installed as Debian packages it (amanda-server, amanda-common): the
Perl bindings in /usr/lib/x86_64-linux-gnu/amanda/perl answer for match_host, match_disk,
match_datestamp, match_level, match_labelstr_template, Amanda::Cmdline::parse_dumpspecs,
format_dumpspec_components and header_matches_dumpspecs; libamanda-3.5.1.so itself (through
ctypes) answers for the functions the bindings do not export (match_glob, match_tar,
match()/do_match, glob_to_regex, make_exact_*_expression, clean_regex).

Where Amanda calls error() (an illegal expression) the process exits: each function runs in
a long-lived worker that is restarted after such an exit, and the record keeps the
message Amanda printed. Everything runs with LC_ALL=C, the locale Amanda's C programs
match in (they never set LC_CTYPE; Perl would otherwise take it from the environment).

Record format (one per line, tab-separated): every string is %-encoded (bytes '%', TAB,
LF, CR, other controls and non-ASCII as %XX), '%-' is C's NULL; a boolean result is '1'
or '0', an error is 'E:' + the %-encoded message. Lines starting with '#' are comments.
Inputs are fixed: hand-picked ones, Amanda's own match-test.c inputs, and seeded random
ones, so a rerun on the same Amanda gives the same files.

Usage: tools/gen-matching-golden.py [OUTPUT_DIR]   (default tests/golden/matching)
"""

import os
import random
import re
import subprocess
import sys
import tempfile

PERL_LIB = "/usr/lib/x86_64-linux-gnu/amanda/perl"
LIBAMANDA = "/usr/lib/x86_64-linux-gnu/amanda/libamanda-3.5.1.so"
CONFIG_NAME = "GoldenConf"  # $c in labelstr templates
ORG = "GoldenOrg"  # $o

R = random.Random(351)

# --------------------------------------------------------------------------------------
# Encoding shared with the workers and with the Rust test.


def enc(s):
    if s is None:
        return "%-"
    if isinstance(s, str):
        s = s.encode("utf-8")
    out = []
    for b in s:
        if b == 0x25 or b < 0x20 or b >= 0x7F:
            out.append("%%%02X" % b)
        else:
            out.append(chr(b))
    return "".join(out)


def dec(s):
    if s == "%-":
        return None
    return re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), s.encode()).decode(
        "utf-8", "surrogateescape"
    )


PERL_WORKER = r"""
use strict; use warnings;
use lib "%(lib)s";
use Amanda::Util qw(match_host match_disk match_datestamp match_level match_labelstr_template);
use Amanda::Cmdline qw(:constants parse_dumpspecs format_dumpspec_components header_matches_dumpspecs);
use Amanda::Header;
use Amanda::Config qw(:init);
$| = 1;
config_init($CONFIG_INIT_USE_CWD, undef);
sub dec { my $s = shift; return undef if $s eq '%%-'; $s =~ s/%%([0-9A-F]{2})/chr(hex($1))/ge; $s }
sub enc { my $s = shift; return '%%-' unless defined $s;
          $s =~ s/([\x00-\x1f%%\x7f-\xff])/sprintf("%%%%%%02X", ord($1))/ge; $s }
my %%f = (
  host => sub { match_host($_[0], $_[1]) ? 1 : 0 },
  disk => sub { match_disk($_[0], $_[1]) ? 1 : 0 },
  datestamp => sub { match_datestamp($_[0], $_[1]) ? 1 : 0 },
  level => sub { match_level($_[0], $_[1]) ? 1 : 0 },
  labelstr => sub { match_labelstr_template(@_[0..4]) ? 1 : 0 },
  format => sub { format_dumpspec_components(@_[0..3]) },
  dumpspecs => sub {
    my ($flags, @args) = @_;
    my @ds = parse_dumpspecs([@args], $flags + 0);
    return (scalar(@ds), (map { ($_->{host}, $_->{disk}, $_->{datestamp}, $_->{level},
                                 $_->{write_timestamp}, $_->format()) } @ds));
  },
  header => sub {
    my ($n, @a) = @_;
    my @ds;
    for my $i (1..$n) { push @ds, Amanda::Cmdline::dumpspec_t->new(splice(@a, 0, 5)); }
    my $h = Amanda::Header->new();
    $h->{type} = $Amanda::Header::F_DUMPFILE;
    $h->{name} = $a[0]; $h->{disk} = $a[1]; $h->{datestamp} = $a[2]; $h->{dumplevel} = $a[3] + 0;
    return header_matches_dumpspecs($h, [@ds]) ? 1 : 0;
  },
);
while (my $line = <STDIN>) {
  chomp $line;
  my ($fn, @a) = map { dec($_) } split /\t/, $line, -1;
  my @out = $f{$fn}->(@a);
  print join("\t", "OK", map { enc($_) } @out), "\n";
}
""" % {"lib": PERL_LIB}

CTYPES_WORKER = r"""
import ctypes, re, sys
am = ctypes.CDLL(%(lib)r)
for f in ("glob_to_regex", "make_exact_host_expression", "make_exact_disk_expression", "clean_regex"):
    getattr(am, f).restype = ctypes.c_char_p
def dec(s):
    return re.sub(rb"%%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), s)
def enc(b):
    return "".join("%%%%%%02X" %% c if c == 0x25 or c < 0x20 or c >= 0x7F else chr(c) for c in b)
fns = {
    "glob": lambda a: str(am.match_glob(a[0], a[1])).encode(),
    "tar": lambda a: str(am.match_tar(a[0], a[1])).encode(),
    "regex": lambda a: str(am.do_match(a[0], a[1], 1)).encode(),
    "regex_nonl": lambda a: str(am.do_match(a[0], a[1], 0)).encode(),
    "glob2re": lambda a: am.glob_to_regex(a[0]),
    "exact_host": lambda a: am.make_exact_host_expression(a[0]),
    "exact_disk": lambda a: am.make_exact_disk_expression(a[0]),
    "clean0": lambda a: am.clean_regex(a[0], 0),
    "clean1": lambda a: am.clean_regex(a[0], 1),
}
for line in sys.stdin.buffer:
    fields = [dec(f) for f in line.rstrip(b"\n").split(b"\t")]
    out = fns[fields[0].decode()](fields[1:])
    sys.stdout.write("OK\t" + enc(out) + "\n")
    sys.stdout.flush()
""" % {"lib": LIBAMANDA}


class Worker:
    """A process answering one request per line; restarted when Amanda's error() exits."""

    def __init__(self, argv, cwd):
        self.argv, self.cwd = argv, cwd
        self.env = dict(os.environ, LC_ALL="C", LANG="C")
        self.p = None
        self.restarts = 0

    def start(self):
        self.err = tempfile.TemporaryFile()
        self.p = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.err, cwd=self.cwd, env=self.env
        )

    def call(self, *fields):
        if self.p is None:
            self.start()
        line = "\t".join(enc(f) for f in fields) + "\n"
        resp = b""
        try:
            self.p.stdin.write(line.encode())
            self.p.stdin.flush()
            resp = self.p.stdout.readline()
        except BrokenPipeError:
            pass
        if resp.startswith(b"OK"):
            return [dec(f) for f in resp.decode().rstrip("\n").split("\t")[1:]]
        # The worker died: Amanda's error() (or a crash). Take the message it printed.
        rc = self.p.wait()
        self.err.seek(0)
        text = self.err.read().decode("utf-8", "replace")
        self.p = None
        self.restarts += 1
        m = re.search(r"CRITICAL \*\*: [0-9:.]+: (.*)", text, re.S)
        if m:
            return "E:" + m.group(1).rstrip("\n")
        return "E:CRASH rc=%s %s" % (rc, text.strip()[-200:])


def result(r):
    """A worker's answer as the record's result field."""
    if isinstance(r, str):
        return "E:" + enc(r[2:])
    return r[0]


# Inputs of Amanda's own common-src/match-test.c tables (the expected answers are not
# copied: the real Amanda is asked, like for every other input).
UPSTREAM_CASES = {
    'regex': [
        ('a', 'a'),
        ('a', 'A'),
        ('a', 'ab'),
        ('a', 'ba'),
        ('a', 'bab'),
        ('.', ''),
        ('.', 'a'),
        ('..', 'a'),
        ('..', 'bc'),
        ('[abc]', 'xbx'),
        ('[abc]', 'xyz'),
        ('[^abc]', 'cba'),
        ('[^abc]', 'xyz'),
        ('[a-c]', 'b'),
        ('[^a-c]', '-'),
        ('[1-9-]', '-'),
        ('[ab\\-cd]', '-'),
        ('^xy', 'xyz'),
        ('^xy', 'wxyz'),
        ('yz$', 'xyz'),
        ('yz$', 'yza'),
        ('^123$', '123'),
        ('^123$', '0123'),
        ('^123$', '1234'),
        ('([a-c])([x-y])', 'pqaxyr'),
        ('([a-c])([x-y])', 'paqrxy'),
        ('([a-c])/\\1', 'a/b'),
        ('([a-c])/\\1', 'c/c'),
        ('>[0-9]*<', '><'),
        ('>[0-9]*<', '>3<'),
        ('>[0-9]*<', '>34<'),
        ('>[0-9]*<', '>345<'),
        ('>[0-9]*<', '>x<'),
        (':(abc|ABC);', ':abc;'),
        (':(abc|ABC);', ':ABC;'),
        (':(abc|ABC);', ':abcBC;'),
        ('>[0-9]+<', '><'),
        ('>[0-9]+<', '>3<'),
        ('>[0-9]+<', '>34<'),
        ('>[0-9]+<', '>345<'),
        ('>[0-9]+<', '>x<'),
        ('>[0-9]{0,1}<', '><'),
        ('>[0-9]{0,1}<', '>9<'),
        ('>[0-9]{0,1}<', '>98<'),
        ('>[0-9]{2,3}<', '><'),
        ('>[0-9]{2,3}<', '>5<'),
        ('>[0-9]{2,3}<', '>55<'),
        ('>[0-9]{2,3}<', '>555<'),
        ('>[0-9]{2,3}<', '>5555<'),
        ('\\\\', '\\'),
        ('\\,', ','),
        ('\\[', '['),
        ('\\*', '*'),
        ('\\?', '?'),
        ('\\+', '+'),
        ('\\.', '.'),
        ('\\|', '|'),
        ('\\^', '^'),
        ('\\$', '$'),
        ('x.y', 'x\ny'),
        ('x[^yz]y', 'x\ny'),
        ('^y', 'x\ny'),
        ('x$', 'x\ny'),
    ],
    'glob': [
        ('a', 'a'),
        ('abc', 'abc'),
        ('abc', 'abcd'),
        ('abc', 'dabc'),
        ('abc', '/usr/bin/abc'),
        ('*.txt', 'foo.txt'),
        ('*.txt', '.txt'),
        ('*.txt', 'txt'),
        ('?.txt', 'X.txt'),
        ('?.txt', '.txt'),
        ('?.txt', 'XY.txt'),
        ('?*.txt', '.txt'),
        ('?*.txt', 'a.txt'),
        ('?*.txt', 'aa.txt'),
        ('?*.txt', 'aaa.txt'),
        ('foo.[tT][xX][tT]', 'foo.txt'),
        ('foo.[tT][xX][tT]', 'foo.TXt'),
        ('foo.[tT][xX][tT]', 'foo.TXT'),
        ('foo.[tT][xX][tT]', 'foo.TaT'),
        ('foo.[tT][!yY][tT]', 'foo.TXt'),
        ('foo.[tT][!yY][tT]', 'foo.TXT'),
        ('foo.[tT][!yY][tT]', 'foo.TyT'),
        ('foo\\\\', 'foo'),
        ('foo\\\\', 'foo\\'),
        ('foo\\\\', 'foo\\\\'),
        ('(){}+.^$|', '(){}+.^$|'),
        ('/usr/bin/*', '/usr/bin/tar'),
        ('/usr/bin/*', '/usr/bin/local/tar'),
        ('/usr/bin/*', '/usr/sbin/tar'),
        ('/usr/bin/*', '/opt/usr/bin/tar'),
        ('/usr?bin', '/usr/bin'),
        ('/usr*bin', '/usr/bin'),
    ],
    'tar': [
        ('a', 'a'),
        ('abc', 'abc'),
        ('abc', 'abcd'),
        ('abc', 'dabc'),
        ('abc', '/usr/bin/abc'),
        ('*.txt', 'foo.txt'),
        ('*.txt', '.txt'),
        ('*.txt', 'txt'),
        ('?.txt', 'X.txt'),
        ('?.txt', '.txt'),
        ('?.txt', 'XY.txt'),
        ('?*.txt', '.txt'),
        ('?*.txt', 'a.txt'),
        ('?*.txt', 'aa.txt'),
        ('?*.txt', 'aaa.txt'),
        ('foo.[tT][xX][tT]', 'foo.txt'),
        ('foo.[tT][xX][tT]', 'foo.TXt'),
        ('foo.[tT][xX][tT]', 'foo.TXT'),
        ('foo.[tT][xX][tT]', 'foo.TaT'),
        ('foo.[tT][!yY][tT]', 'foo.TXt'),
        ('foo.[tT][!yY][tT]', 'foo.TXT'),
        ('foo.[tT][!yY][tT]', 'foo.TyT'),
        ('foo\\\\', 'foo'),
        ('foo\\\\', 'foo\\'),
        ('foo\\\\', 'foo\\\\'),
        ('(){}+.^$|', '(){}+.^$|'),
        ('/usr/bin/*', '/usr/bin/tar'),
        ('/usr/bin/*', '/usr/bin/local/tar'),
        ('/usr/bin/*', '/usr/sbin/tar'),
        ('/usr/bin/*', '/opt/usr/bin/tar'),
        ('/usr?bin', '/usr/bin'),
        ('/usr*bin', '/usr/bin'),
        ('./temp-files', './temp-files'),
        ('./temp-files', './temp-files/foo'),
        ('./temp-files', './temp-files/foo/bar'),
        ('./temp-files', './temp-files.bak'),
        ('./temp-files', './backup/temp-files'),
        ('./temp-files/', './temp-files'),
        ('./temp-files/', './temp-files/'),
        ('./temp-files/', './temp-files/foo'),
        ('./temp-files/', './temp-files/foo/bar'),
        ('./temp-files/', './temp-files.bak'),
        ('/temp-files/', './temp-files'),
        ('/temp-files/', './temp-files/'),
        ('/temp-files/', './temp-files/foo'),
        ('/temp-files/', './temp-files/foo/bar'),
        ('/temp-files/', './temp-files.bak'),
        ('./temp-files/*', './temp-files'),
        ('./temp-files/*', './temp-files/'),
        ('./temp-files/*', './temp-files/foo'),
        ('./temp-files/*', './temp-files/foo/bar'),
        ('temp-files', './my/temp-files'),
        ('temp-files', './my/temp-files/bar'),
        ('temp-files', './temp-files'),
        ('temp-files', './her-temp-files'),
        ('temp-files', './her/old-temp-files'),
        ('temp-files', './her/old-temp-files/bar'),
        ('generated-*', './my/generated-xyz'),
        ('generated-*', './my/generated-xyz/bar'),
        ('generated-*', './generated-xyz'),
        ('generated-*', './her-generated-xyz'),
        ('generated-*', './her/old-generated-xyz'),
        ('generated-*', './her/old-generated-xyz/bar'),
        ('*.iso', './my/amanda.iso'),
        ('*.iso', './amanda.iso'),
        ('proxy/local/cache', './usr/proxy/local/cache'),
        ('proxy/local/cache', './proxy/local/cache'),
        ('proxy/local/cache', './proxy/local/cache/7a'),
    ],
    'host': [
        ('hosta', 'hosta'),
        ('hosta', 'foo.hosta.org'),
        ('hosta', 'hoSTA.dOMAIna.ORG'),
        ('hosta', 'hostb'),
        ('hOsta', 'hosta'),
        ('hOsta', 'foo.hosta.org'),
        ('hOsta', 'hoSTA.dOMAIna.ORG'),
        ('hOsta', 'hostb'),
        ('host', 'host'),
        ('host', 'hosta'),
        ('host?', 'hosta'),
        ('host?', 'hostb'),
        ('host?', 'host'),
        ('host?', 'hostabc'),
        ('ho*na', 'hona'),
        ('ho*na', 'hoina'),
        ('ho*na', 'hoina.org'),
        ('ho*na', 'ns.hoina.org'),
        ('ho*na', 'ho.aina.org'),
        ('ho**na', 'hona'),
        ('ho**na', 'hoina'),
        ('ho**na', 'hoina.org'),
        ('ho**na', 'ns.hoina.org'),
        ('ho**na', 'ho.aina.org'),
        ('^hosta', 'hosta'),
        ('^hosta', 'hosta.org'),
        ('^hosta', 'hostabc'),
        ('^hosta', 'www.hosta'),
        ('^hosta', 'www.hosta.org'),
        ('/opt', 'opt'),
        ('.hosta.', 'hosta'),
        ('.hosta.', 'foo.hosta'),
        ('.hosta.', 'hosta.org'),
        ('.hosta.', 'foo.hosta.org'),
        ('/hosta', 'hosta'),
        ('/hosta', 'foo.hosta'),
        ('/hosta', 'hosta.org'),
        ('/hosta', 'foo.hosta.org'),
        ('.opt.', 'opt'),
        ('.opt.', 'www.opt'),
        ('.opt.', 'www.opt.com'),
        ('.opt.', 'opt.com'),
        ('^hosta$', 'hosta'),
        ('^hosta$', 'foo.hosta'),
        ('^hosta$', 'hosta.org'),
        ('^hosta$', 'foo.hosta.org'),
        ('^lu.vis.ta$', 'lu.vis.ta'),
        ('^lu.vis.ta$', 'lu-vis.ta'),
        ('^lu.vis.ta$', 'luvista'),
        ('^lu.vis.ta$', 'foo.lu.vis.ta'),
        ('^lu.vis.ta$', 'lu.vis.ta.org'),
        ('^lu.vis.ta$', 'foo.lu.vis.ta.org'),
        ('mo[st]a', 'mota'),
        ('mo[st]a', 'mosa'),
        ('mo[st]a', 'mosta'),
        ('mo[!st]a', 'mota'),
        ('mo[!st]a', 'moma'),
        ('mo[!st]a', 'momma'),
        ('host[acd]', 'hosta'),
        ('host[acd]', 'hostb'),
        ('host[acd]', 'hostc'),
        ('host[!acd]', 'hosta'),
        ('host[!acd]', 'hostb'),
        ('host[!acd]', 'hostc'),
        ('toast', 'www.toast.com'),
        ('.toast', 'www.toast.com'),
        ('toast.', 'www.toast.com'),
        ('.toast.', 'www.toast.com'),
    ],
    'disk': [
        ('sda*', '/dev/sda1'),
        ('sda*', '/dev/sda2'),
        ('sda*', '/dev/sdb2'),
        ('opt', 'opt'),
        ('opt', '/opt'),
        ('opt', '/opt/foo'),
        ('opt', 'opt/foo'),
        ('/opt', 'opt'),
        ('/opt', 'opt/'),
        ('/opt', '/opt'),
        ('/opt', '/opt/'),
        ('/opt', '/local/opt/'),
        ('/opt', '/opt/local/'),
        ('opt/', 'opt'),
        ('opt/', 'opt/'),
        ('opt/', '/opt'),
        ('opt/', '/opt/'),
        ('opt/', '/local/opt/'),
        ('opt/', '/opt/local/'),
        ('/', '/'),
        ('/', '/opt/local/'),
        ('/usr$', '/'),
        ('/usr$', '/usr'),
        ('/usr$', '/usr/local'),
        ('share', '\\\\windows1\\share'),
        ('share', '\\\\windows2\\share'),
        ('share', '//windows1/share'),
        ('share', '//windows2/share'),
        ('share*', '\\\\windows\\share1'),
        ('share*', '\\\\windows\\share2'),
        ('share*', '//windows/share3'),
        ('share*', '//windows/share4'),
        ('//windows/share', '//windows/share'),
        ('//windows/share', '\\\\windows\\share'),
        ('\\\\windows\\share', '//windows/share'),
        ('\\\\windows\\share', '\\\\windows\\share'),
        ('\\\\\\\\windows\\\\share', '//windows/share'),
        ('\\\\\\\\windows\\\\share', '\\\\windows\\share'),
        ('^local', '/local'),
        ('^/local', '/local'),
        ('^local', '/local/vore'),
        ('^/local', '/local/vore'),
        ('^local', '/usr/local'),
        ('local/bin', '/local/bin'),
        ('local/bin', '/opt/local/bin'),
        ('local/bin', '/local/bin/git'),
        ('//windows/share', '//windows/share/files'),
        ('//windows/share', '\\\\windows\\share\\files'),
        ('\\\\windows\\share', '//windows/share/files'),
        ('\\\\windows\\share', '\\\\windows\\share\\files'),
        ('local/var', '/local/var'),
        ('local/var', '/opt/local/var'),
        ('local/var', '/local/var/lib'),
        ('local/var', '/local/usr/var'),
        ('/usr/bin', '/usr/bin'),
        ('/usr/bin', '/usr/bin/'),
        ('/usr/bin/', '/usr/bin'),
        ('/usr/bin/', '/usr/bin/'),
        ('/usr/bin', '/usr/bin//'),
        ('/usr/bin//', '/usr/bin'),
        ('/usr/bin//', '/usr/bin//'),
        ('/usr\\/bin', '/usr/bin'),
        ('^/usr\\/bin$', '/usr/bin'),
        ('\\/usr\\/bin', '/usr/bin'),
        ('^\\/usr\\/bin$', '/usr/bin'),
        ('/usr\\/bin\\/', '/usr/bin/'),
        ('^/usr\\/bin\\/$', '/usr/bin/'),
        ('\\/usr\\/bin\\/', '/usr/bin/'),
        ('^\\/usr\\/bin\\/$', '/usr/bin/'),
        ('oracle', 'oracle'),
        ('oracle', '/oracle'),
        ('oracle', 'oracle/'),
        ('oracle', '/oracle/'),
        ('/oracle', 'oracle'),
        ('/oracle', '/oracle'),
        ('/oracle', 'oracle/'),
        ('/oracle', '/oracle/'),
        ('^oracle', 'oracle'),
        ('^oracle', '/oracle'),
        ('^oracle', 'oracle/'),
        ('^oracle', '/oracle/'),
        ('^/oracle', 'oracle'),
        ('^/oracle', '/oracle'),
        ('^/oracle', 'oracle/'),
        ('^/oracle', '/oracle/'),
        ('oracle', 'oracle'),
        ('oracle', '/oracle'),
        ('oracle', 'oracle/'),
        ('oracle', '/oracle/'),
        ('oracle$', 'oracle'),
        ('oracle$', '/oracle'),
        ('oracle$', 'oracle/'),
        ('oracle$', '/oracle/'),
        ('oracle/$', 'oracle'),
        ('oracle/$', '/oracle'),
        ('oracle/$', 'oracle/'),
        ('oracle/$', '/oracle/'),
    ],
    'datestamp': [
        ('20001212-14', '20001212'),
        ('20001212-14', '20001212010203'),
        ('20001212-14', '20001213'),
        ('20001212-14', '20001213010203'),
        ('20001212-14', '20001214'),
        ('20001212-14', '20001215'),
        ('20001212-4', '20001212'),
        ('20001212-4', '20001212010203'),
        ('20001212-4', '20001213'),
        ('20001212-4', '20001213010203'),
        ('20001212-4', '20001214'),
        ('20001212-4', '20001215'),
        ('20001212-214', '20001212'),
        ('20001212-214', '20001212010203'),
        ('20001212-214', '20001213'),
        ('20001212-214', '20001213010203'),
        ('20001212-214', '20001214'),
        ('20001212-214', '20001215'),
        ('20001212-24', '20001211'),
        ('20001212-24', '20001214010203'),
        ('20001212-24', '20001221010203'),
        ('20001212-24', '20001224'),
        ('20001212-24', '20001225'),
        ('2000121', '20001209'),
        ('2000121', '20001210'),
        ('2000121', '20001210012345'),
        ('2000121', '20001219'),
        ('2000121', '20001219012345'),
        ('2000121', '20001220'),
        ('2', '19991231'),
        ('2', '20000101'),
        ('2', '20100419'),
        ('^2', '19991231'),
        ('^2', '20000101'),
        ('^2', '20100419'),
        ('2000-2010', '19991231235959'),
        ('2000-2010', '20001010'),
        ('2000-2010', '20101231'),
        ('2000-2010', '20111010'),
        ('200010$', '200010'),
        ('200010$', '20001001'),
        ('200010$', '20001001061500'),
        ('20000615$', '20000615'),
        ('20000615$', '20000615000000'),
        ('20000615$', '20000615010306'),
    ],
    'level': [
        ('3$', '2'),
        ('3$', '3'),
        ('3$', '4'),
        ('3$', '32'),
        ('^3$', '2'),
        ('^3$', '3'),
        ('^3$', '4'),
        ('^3$', '32'),
        ('3', '2'),
        ('3', '3'),
        ('3', '4'),
        ('3', '32'),
        ('2-5', '1'),
        ('2-5', '13'),
        ('2-5', '23'),
        ('2-5', '2'),
        ('2-5', '4'),
        ('2-5', '5'),
        ('2-5', '53'),
        ('2-5', '63'),
        ('2-5', '6'),
        ('9-15', '8'),
        ('9-15', '19'),
        ('9-15', '91'),
        ('9-15', '9'),
        ('9-15', '14'),
        ('9-15', '15'),
        ('9-15', '152'),
        ('9-15', '16'),
        ('19-21', '18'),
        ('19-21', '19'),
        ('19-21', '21'),
        ('19-21', '22'),
        ('99-99', '98'),
        ('99-99', '99'),
        ('99-99', '100'),
        ('21-19', '18'),
        ('21-19', '19'),
        ('21-19', '21'),
        ('21-19', '22'),
    ],
    'glob2re': [
        ('abc', '^abc$'),
        ('*.txt', '^[^/]*\\.txt$'),
        ('?.txt', '^[^/]\\.txt$'),
        ('?*.txt', '^[^/][^/]*\\.txt$'),
        ('foo.[tT][xX][tT]', '^foo\\.[tT][xX][tT]$'),
        ('foo.[tT][!yY][tT]', '^foo\\.[tT][^yY][tT]$'),
        ('foo\\\\', '^foo\\\\$'),
        ('(){}+.^$|', '^\\(\\)\\{\\}\\+\\.\\^\\$\\|$'),
        ('/usr/bin/*', '^/usr/bin/[^/]*$'),
    ],
}


# --------------------------------------------------------------------------------------
# Inputs


def pick(*xs):
    return R.choice(xs)


HOST_WORDS = ["foo", "bar", "baz", "a", "b", "ab", "host", "hosta", "www", "example", "com", "org",
              "x1", "FOO", "Bar", "web-1", "db_2", "Host"]
DISK_WORDS = ["usr", "local", "bin", "opt", "var", "lib", "home", "a", "b", "sda1", "dev", "share",
              "oracle", "Program Files", "C:", "data.1", "x*y"]
SPECIALS = "(){}+|.$^\\[]*?!-=/ ,"
CLASSES = ["[{c}]", "[!{c}]", "[^{c}]", "[{c}-z]", "[a-c]", "[]a]", "[!]a]", "[[:alpha:]]",
           "[[:digit:]]", "[{c}\\]]", "[a-", "[", "[.]", "[/]", "[!.]", "[[:foo:]]", "[z-a]",
           "[a-c-e]", "[[.a.]]", "[[=b=]]", "[-a]", "[a-]", "[\\]", "[]"]


def rand_host():
    n = R.choice([0, 1, 1, 2, 2, 3, 3, 4])
    s = ".".join(R.choice(HOST_WORDS) for _ in range(n))
    r = R.random()
    if r < 0.05:
        s = "." + s
    elif r < 0.10:
        s = s + "."
    elif r < 0.13:
        s = s.upper()
    elif r < 0.16:
        s = s + R.choice(["\\", "*", "$", "^", "[x]", " ", "é", "/", "\n"])
    return s


def rand_disk():
    n = R.choice([0, 1, 1, 2, 2, 3, 4])
    words = [R.choice(DISK_WORDS) for _ in range(n)]
    r = R.random()
    if r < 0.15:
        host = R.choice(["host", "windows1", "w"])
        parts = [host] + words[:2]
        return "\\\\" + "\\".join(parts) if R.random() < 0.6 else "//" + "/".join(parts)
    if r < 0.2:
        return "C:\\" + "\\".join(words)
    s = "/".join(words)
    r = R.random()
    if r < 0.55:
        s = "/" + s
    if R.random() < 0.12:
        s = s + "/"
    if R.random() < 0.03:
        s = s + "//"
    if R.random() < 0.04:
        s = s + R.choice(["\\", "$", "^", "é", "\n", "."])
    return s


def mutate(s, sep):
    """A pattern derived from a subject, so that matches and near misses both occur."""
    p = s
    if R.random() < 0.4:
        words = p.split(sep)
        i = R.randrange(len(words))
        j = R.randrange(i, len(words)) + 1
        p = sep.join(words[i:j])
    for _ in range(R.choice([0, 1, 1, 2, 2, 3])):
        i = R.randrange(len(p) + 1)
        op = R.random()
        if op < 0.15 and p:
            i = min(i, len(p) - 1)
            p = p[:i] + "?" + p[i + 1:]
        elif op < 0.32:
            j = R.randrange(i, len(p) + 1)
            p = p[:i] + R.choice(["*", "*", "**"]) + p[j:]
        elif op < 0.45 and p:
            i = min(i, len(p) - 1)
            c = p[i] if p[i] not in "[]" else "x"
            p = p[:i] + R.choice(CLASSES).replace("{c}", c) + p[i + 1:]
        elif op < 0.52:
            p = p[:i] + "\\" + p[i:]
        elif op < 0.62:
            p = "^" + p
        elif op < 0.72:
            p = p + "$"
        elif op < 0.82:
            p = p[:i] + R.choice(SPECIALS) + p[i:]
        elif op < 0.86:
            p = p.upper() if R.random() < 0.5 else p.lower()
        elif op < 0.94:
            p = p[:i] + sep + p[i:]
        else:
            p = "=" + p
    return p


def random_pattern(alphabet, maxlen=8):
    return "".join(R.choice(alphabet) for _ in range(R.randint(0, maxlen)))


def host_cases(upstream):
    cases = list(upstream)
    hand = ["", ".", "..", "^.", ".$", "^.$", "$", "^", "^$", "=", "*", "**", "?", "\\", "\\.",
            "a\\", "^..$", "^\\.$", "foo.", ".foo", "FOO", "=FOO", "=foo", "f[!o]o", "f[]o", "[",
            "a{1}", "a(b)", "a+", "a|b", "\\w", "\\W", "\\b", "\\1", "\\<foo\\>", "a.b.c$",
            "^a.b.c", "[[:upper:]]*", "[A-Z]*", "x**", "***", "*.*", ".*.", "[.]", "[!.]"]
    subjects = ["", ".", "..", "foo", "FOO", "foo.example.com", "foo.bar", "a.b.c", "foo.",
                ".foo", "x", "a b", "\\", "fooé.com", "foo\nbar", "w", "A.B.C"]
    for p in hand:
        for s in subjects:
            cases.append((p, s))
    while len(cases) < 2200:
        s = rand_host()
        p = mutate(s, ".") if R.random() < 0.8 else random_pattern("ab.*?[]!^$\\=A-", 7)
        cases.append((p, s))
    return cases


def disk_cases(upstream):
    cases = list(upstream)
    hand = ["", "/", "//", "^/", "/$", "^/$", "$", "^", "^$", "=", "=/usr", "*", "**", "?",
            "\\", "\\\\", "\\\\\\\\", "\\/", "^\\/$", "/usr\\", "share", "\\\\host\\share",
            "\\\\\\\\host\\\\share", "//host/share", "^//host/share$", "C:", "C:\\\\", "c$",
            "\\$", "usr/", "/usr/", "^/usr$", "usr/**", "**/bin", "[", "[/]", "[!/]*", "/a[b"]
    subjects = ["", "/", "//", "/usr", "/usr/", "usr", "/usr/local/bin", "\\\\host\\share",
                "\\\\host\\share\\dir", "\\\\host/share", "//host/share", "C:\\Windows", "C:/x",
                "c$", "\\", "a\\b", "/data.1", "/x*y"]
    for p in hand:
        for s in subjects:
            cases.append((p, s))
    while len(cases) < 2200:
        s = rand_disk()
        p = mutate(s, "/") if R.random() < 0.8 else random_pattern("ab/*?[]!^$\\=.-", 7)
        if R.random() < 0.05:
            p = p.replace("/", "\\\\")
        cases.append((p, s))
    return cases


def rand_datestamp():
    r = R.random()
    if r < 0.05:
        return pick("", "abc", "2026-01-01", "2026", "200010", "9", "20261301")
    d = "%04d%02d%02d" % (R.randint(1999, 2030), R.randint(1, 12), R.randint(1, 28))
    if R.random() < 0.5:
        d += "%02d%02d%02d" % (R.randint(0, 23), R.randint(0, 59), R.randint(0, 59))
    return d


def datestamp_cases(upstream):
    cases = list(upstream)
    hand = ["", "*", "**", "=", "^", "$", "^$", "-", "--", "2026-", "-5", "2026$-", "^2026$",
            "2026-2025", "2026-27", "2026-7", "20260101-20260201", "20260101-0201", "2026-12345",
            "1-2-3", "20a", "x", "^-", "-$", "=20260101", "= 2026", "2 026", "+2026", "0",
            "9" * 99, "9" * 100, "2026-" + "9" * 3, "20260101000000-20260101235959", "0-9", "00-99"]
    subjects = ["", "2026", "20260101", "20260101123456", "20251231", "2027", "19991231", "abc",
                "2026-01-01", "0", "9", "99999999"]
    for p in hand:
        for s in subjects:
            cases.append((p, s))
    while len(cases) < 1300:
        s = rand_datestamp()
        r = R.random()
        if r < 0.35:
            p = s[: R.randint(0, len(s))]
        elif r < 0.75:
            a = s[: R.randint(1, max(1, len(s)))] if s else "2026"
            a = str(max(0, int(a) + R.randint(-3, 3))).zfill(len(a)) if a.isdigit() else a
            b = a[R.randint(0, len(a)) :] if R.random() < 0.7 else a + "1"
            if b.isdigit() and R.random() < 0.6:
                b = str(int(b) + R.randint(0, 30)).zfill(len(b))[-len(b) :] if b else b
            p = a + "-" + b
        else:
            p = random_pattern("0123456789-^$=*a", 10)
        if R.random() < 0.1:
            p = "^" + p
        if R.random() < 0.1:
            p = p + "$"
        cases.append((p, s))
    return cases


def level_cases(upstream):
    cases = list(upstream)
    hand = ["", "0", "1", "9", "10", "1-3", "0-", "-3", "1+", "1-", "^1$", "1$", "=1", "=01", "^",
            "$", "^$", "1$-", "10-2", "a", "3-3", "0-99", "^0-9", "0-9$", "1-2-3", "-", "9" * 30,
            "0-" + "9" * 30, "9" * 100, " 1", "1 ", "01", "=", "*"]
    subjects = ["0", "1", "2", "3", "9", "10", "12", "99", "", "-1", " 3", "3x", "01",
                "999999999999999999999", "a"]
    for p in hand:
        for s in subjects:
            cases.append((p, s))
    while len(cases) < 1100:
        s = str(R.randint(0, 12)) if R.random() < 0.9 else pick("", "x", "-2", "012", " 7")
        r = R.random()
        if r < 0.4:
            p = str(R.randint(0, 12))
        elif r < 0.8:
            p = "%d-%d" % (R.randint(0, 9), R.randint(0, 12))
        else:
            p = random_pattern("0123456789-^$=+", 5)
        if R.random() < 0.1:
            p = "^" + p
        if R.random() < 0.1:
            p = p + "$"
        cases.append((p, s))
    return cases


GLOB_SUBJECTS = ["foo.c", "a/foo.c", "/usr/bin/tar", ".txt", "x y", "foo", "foo/", "/", "",
                 "./temp-files/foo", "a.b.c", "[x]", "a\\b", "*", "?", "(){}+.^$|", "é.c", "a\nb"]


def glob_cases(upstream, n):
    cases = list(upstream)
    hand = ["*", "**", "?", "*.c", "*/*", "[!a]*", "[", "\\", "a\\", "\\\\", "\\*", "[]]",
            "[!]]", "[a\\]]", "[a\\].b]", "[[:alpha:]]*", "[]*]", "(){}+.^$|", "*.[ch]", "/*",
            "**/", "a{1,2}", "x|y", "[\\].(]", "[]a](", "[.]*", "é*"]
    for p in hand:
        for s in GLOB_SUBJECTS:
            cases.append((p, s))
    while len(cases) < n:
        s = R.choice(GLOB_SUBJECTS) if R.random() < 0.4 else rand_disk()
        p = mutate(s, "/") if R.random() < 0.7 else random_pattern("ab/*?[]!^$\\.-(){}+|", 7)
        cases.append((p, s))
    return cases


ERE_ATOMS = ["a", "b", "a", "b", ".", "-", "]", "[", "(", ")", "|", "*", "+", "?", "{", "}", "^",
             "$", "\\", ",", "0", "1", "2", ":", "!", "\n", "[a-c]", "[^a]", "[]a]", "[^]a]",
             "[[:alpha:]]", "[[:digit:]-]", "[[.a.]]", "[[=b=]]", "[a-]", "[-a]", "[\\]",
             "\\w", "\\W", "\\s", "\\S", "\\b", "\\B", "\\<", "\\>", "\\`", "\\'", "\\1", "\\2",
             "\\.", "\\(", "\\{", "\\|", "\\n", "\\0", "{2}", "{1,}", "{,2}", "{0}", "{1,2}",
             "{2,1}", "{x}", "{", "{1", "()", "(a|b)", "(a)", "[[:foo:]]", "[z-a]", "[[.ab.]]",
             "[a-c-e]", "[%-/]", "[[:alpha:]-z]", "{40000}", "{32767}"]
ERE_SUBJECTS = "ab-]\n.0[ \\,x"


def regex_cases(upstream):
    cases = []
    for p, s in upstream:
        cases.append(("regex", p, s))
        cases.append(("regex_nonl", p, s))
    while len(cases) < 2000:
        p = "".join(R.choice(ERE_ATOMS) for _ in range(R.randint(0, 6)))
        if "{32767}" in p or "{40000}" in p:
            p = p.replace("{32767}", "{3}") if R.random() < 0.8 else p
        for _ in range(R.randint(1, 4)):
            s = "".join(R.choice(ERE_SUBJECTS) for _ in range(R.randint(0, 6)))
            cases.append(("regex" if R.random() < 0.8 else "regex_nonl", p, s))
    return cases


LABEL_TEMPLATES = ["^DailySet1-[0-9][0-9]*$", "$c-%%%", "^$c-%%%$", "$o-!!%", "^$b$", "$m-$r-%",
                   "$s", "$3s", "a$2sb", "$$", "$", "a$", "$x", "$%", "\\%", "\\!", "%%%-$c", "[",
                   "$b", "$m", "$r", "!!", "^!%$", "a\\$c", "$c$o", "$$c", "$3x", "$0s", "x$1s"]
LABEL_LABELS = ["GoldenConf-001", "DailySet1-01", "GoldenOrg-AB1", "BC1234", "x", "", "GoldenConf",
                "GoldenConfGoldenOrg", "a12b", "a1b", "m1-st-5", "$c", "%", "!", "AB", "12", "ab",
                "a$", "xx", "a$c", "$%", "[0-9]"]
LABEL_VARS = [None, "BC1234", "m1", "st", "a.b", "[x", ""]


def labelstr_cases():
    cases = []
    for t in LABEL_TEMPLATES:
        for lab in LABEL_LABELS:
            cases.append((t, lab, R.choice(LABEL_VARS), R.choice(LABEL_VARS), R.choice(LABEL_VARS)))
    while len(cases) < 700:
        t = "".join(R.choice(["$c", "$o", "$b", "$m", "$r", "$s", "$2s", "%", "!", "a", "-", "\\",
                              "$$", "^", "$", ".", "*", "[0-9]", "\\%"]) for _ in range(R.randint(1, 5)))
        if re.search(r"\$[0-9](\Z|[0-9])", t) or re.search(r"(?<!\\)(\\\\)*\\\Z", t):
            continue  # Amanda reads past the template's end / loops forever there
        lab = R.choice(LABEL_LABELS) if R.random() < 0.5 else "".join(
            R.choice("GoldenConfOrg-0123AB$%") for _ in range(R.randint(0, 8)))
        cases.append((t, lab, R.choice(LABEL_VARS), R.choice(LABEL_VARS), R.choice(LABEL_VARS)))
    return cases


ARG_POOL = ["h1", "foo.example.com", "=h1", "", "*", "/usr", "usr", "=", "2026", "20260101",
            "2026-2027", "0", "1", "0-3", "(", "[", "*a", "a b", "it's", "back\\slash", "=x y",
            "^h", "é", "a{1", "1$"]


def dumpspec_cases():
    cases = []
    for flags in range(16):
        cases.append((flags, []))
        for n in range(1, 10):
            cases.append((flags, [R.choice(ARG_POOL) for _ in range(n)]))
    while len(cases) < 500:
        cases.append((R.randrange(16), [R.choice(ARG_POOL) for _ in range(R.randint(0, 9))]))
    return cases


def format_cases():
    pool = [None, "", "h", "a b", "it's", "back\\slash", "/usr/local", "x.y", "é", "$", "=h",
            "a\tb"]
    return [tuple(R.choice(pool) for _ in range(4)) for _ in range(250)]


HDR_HOSTS = ["foo.example.com", "FOO.example.com", "h1", "bar", "a.b"]
HDR_DISKS = ["/usr", "/usr/local", "/", "\\\\host\\share", "//host/share", "usr"]
HDR_DATES = ["20260101", "20260101123456", "20251231000000", "2026", ""]
SPEC_HOSTS = [None, "", "foo", "=foo.example.com", "FOO", "h?", "=h1", "bar$", "[", "*"]
SPEC_DISKS = [None, "", "/usr", "usr", "=/usr", "share", "local", "/", "\\"]
SPEC_DATES = [None, "", "2026", "20260101-02", "2025", "=20260101", "x", "*", "2026$"]
SPEC_LEVELS = [None, "", "0", "1", "0-1", "2-", "=1", "a", "1$"]


def header_cases():
    cases = []
    while len(cases) < 1000:
        n = R.choice([0, 1, 1, 1, 2, 2, 3])
        specs = [(R.choice(SPEC_HOSTS), R.choice(SPEC_DISKS), R.choice(SPEC_DATES), R.choice(SPEC_LEVELS),
                  R.choice([None, "", "2026"])) for _ in range(n)]
        hdr = (R.choice(HDR_HOSTS), R.choice(HDR_DISKS), R.choice(HDR_DATES), R.randint(0, 3))
        cases.append((specs, hdr))
    return cases


# --------------------------------------------------------------------------------------
# Recording


def write(outdir, name, header, records):
    path = os.path.join(outdir, name)
    with open(path, "w") as f:
        for h in header:
            f.write("# " + h + "\n")
        for r in records:
            f.write("\t".join(r) + "\n")
    print("%-16s %6d records" % (name, len(records)), file=sys.stderr)


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden", "matching")
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="amrs-golden-")
    confdir = os.path.join(tmp, CONFIG_NAME)
    os.makedirs(confdir)
    with open(os.path.join(confdir, "amanda.conf"), "w") as f:
        f.write('org "%s"\n' % ORG)
    perl = Worker(["perl", "-e", PERL_WORKER], confdir)
    lib = Worker([sys.executable, "-c", CTYPES_WORKER], tmp)
    common = "Amanda 3.5.1 (%s), LC_ALL=C; by tools/gen-matching-golden.py" % version()

    for fn, cases in [("host", host_cases(UPSTREAM_CASES["host"])),
                      ("disk", disk_cases(UPSTREAM_CASES["disk"])),
                      ("datestamp", datestamp_cases(UPSTREAM_CASES["datestamp"])),
                      ("level", level_cases(UPSTREAM_CASES["level"]))]:
        recs = [(enc(p), enc(s), result(perl.call(fn, p, s))) for p, s in cases]
        write(outdir, fn + ".txt", [common, "match_%s(pattern, subject): pattern, subject, result" % fn], recs)

    for fn, cases in [("glob", glob_cases(UPSTREAM_CASES["glob"], 1100)),
                      ("tar", glob_cases(UPSTREAM_CASES["tar"], 700))]:
        recs = [(enc(p), enc(s), result(lib.call(fn, p, s))) for p, s in cases]
        write(outdir, fn + ".txt", [common, "match_%s(glob, subject): glob, subject, result" % fn], recs)

    recs = [(fn, enc(p), enc(s), result(lib.call(fn, p, s))) for fn, p, s in regex_cases(UPSTREAM_CASES["regex"])]
    write(outdir, "regex.txt", [common, "do_match(regex, subject, newline): regex (REG_NEWLINE) or "
                                "regex_nonl (without), regex, subject, result"], recs)

    inputs = ([g for g, _ in UPSTREAM_CASES["glob2re"]] + [p for p, _ in glob_cases([], 60)]
              + [rand_host() for _ in range(30)] + [rand_disk() for _ in range(30)]
              + ["", "a.b*c", "\\", "[x]", "$^", "é", "a/b.c", "(){}+|"])
    inputs = list(dict.fromkeys(inputs))  # each input once
    recs = []
    for s in inputs:
        for fn in ("glob2re", "exact_host", "exact_disk", "clean0", "clean1"):
            if fn.startswith("clean") and not s.isascii():
                continue  # amrs keeps non-ASCII bytes unescaped (see clean_regex)
            r = lib.call(fn, s)
            recs.append((fn, enc(s), "E:" + enc(r[2:]) if isinstance(r, str) else enc(r[0])))
    write(outdir, "exact.txt", [common, "kind, input, output: glob2re = glob_to_regex, exact_host/exact_disk = "
                                "make_exact_*_expression, clean0/clean1 = clean_regex(s, anchor)"], recs)

    recs = []
    for t, lab, b, m, st in labelstr_cases():
        recs.append((enc(t), enc(lab), enc(b), enc(m), enc(st), result(perl.call("labelstr", t, lab, b, m, st))))
    write(outdir, "labelstr.txt", [common, "match_labelstr_template(template, label, barcode, meta, storage) "
                                   "with config %s, org %s: template, label, barcode, meta, storage, result"
                                   % (CONFIG_NAME, ORG)], recs)

    recs = []
    for flags, args in dumpspec_cases():
        r = perl.call("dumpspecs", str(flags), *args)
        rec = [str(flags), str(len(args))] + [enc(a) for a in args]
        rec += ["E:" + enc(r[2:])] if isinstance(r, str) else [enc(x) for x in r]
        recs.append(rec)
    write(outdir, "dumpspecs.txt", [common, "parse_dumpspecs(args, flags) and format(): flags, nargs, args..., "
                                    "then E:message, or the number of specs and for each host, disk, datestamp, "
                                    "level, write_timestamp, formatted"], recs)

    recs = []
    for c in format_cases():
        r = perl.call("format", *c)
        recs.append([enc(x) for x in c] + [enc(r[0]) if not isinstance(r, str) else "E:" + enc(r[2:])])
    write(outdir, "format.txt", [common, "format_dumpspec_components(host, disk, datestamp, level): "
                                 "the four inputs, output"], recs)

    recs = []
    for specs, hdr in header_cases():
        fields = [str(len(specs))] + [x for s in specs for x in s] + [hdr[0], hdr[1], hdr[2], str(hdr[3])]
        r = perl.call("header", *fields)
        recs.append([enc(x) for x in fields] + [result(r)])
    write(outdir, "header.txt", [common, "header_matches_dumpspecs(F_DUMPFILE header, dumpspecs): nspecs, "
                                 "host/disk/datestamp/level/write_timestamp per spec, header name, disk, "
                                 "datestamp, dumplevel, result"], recs)
    print("worker restarts after error(): perl %d, libamanda %d" % (perl.restarts, lib.restarts), file=sys.stderr)


def version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "amanda-server"], capture_output=True,
                             text=True).stdout
        return "Debian " + out.strip() if out else "unknown build"
    except OSError:
        return "unknown build"


if __name__ == "__main__":
    main()
