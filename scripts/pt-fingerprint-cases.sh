#!/usr/bin/env bash
# Print pt-query-digest's fingerprint and class id of each query on stdin, one per line, as
# `query<TAB>fingerprint<TAB>ID` (escapes \\ \t \n \r on both sides, as in
# parsers/tests/data/fingerprint_cases.tsv). It loads QueryRewriter from the pt-query-digest
# script given (pt tools are modulinos: `require` runs no main).
#
# Usage: scripts/pt-fingerprint-cases.sh PT_QUERY_DIGEST < queries.txt
#   PT_QUERY_DIGEST: /usr/bin/pt-query-digest (Debian's 3.2.1), or the current release's
#   bin/pt-query-digest from percona-toolkit's repository (3.5.7 is the reference).
set -euo pipefail
pt=${1:?usage: $0 PT_QUERY_DIGEST < queries}
exec perl -e '
use strict; use warnings; use Digest::MD5 qw(md5_hex);
require $ARGV[0];
my $qr = QueryRewriter->new();
my %un = (n => "\n", t => "\t", r => "\r");
while (my $l = <STDIN>) {
  chomp $l;
  (my $q = $l) =~ s/\\(.)/exists $un{$1} ? $un{$1} : $1/ge;
  my $fp = $qr->fingerprint($q);
  (my $e = $fp) =~ s/\\/\\\\/g; $e =~ s/\n/\\n/g; $e =~ s/\t/\\t/g; $e =~ s/\r/\\r/g;
  print "$l\t$e\t", uc(md5_hex($fp)), "\n";
}' "$pt"
