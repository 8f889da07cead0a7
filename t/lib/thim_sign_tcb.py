#!/usr/bin/python3
# thim_sign_tcb.py KEY OFFSET LENGTH N FIRST BODY > LINES
#
# N copies of an Intel TCB info BODY, each naming its own FMSPC (FIRST,
# FIRST + 1, ... as 12 hex digits) and signed with the P-256 KEY (PEM) over
# the signed member at [OFFSET, OFFSET + LENGTH): "fmspc length\n" and
# the body's bytes, each.  For t/lib/ThimScale.pm: thousands of distinct,
# verifiable records in a second (openssl dgst per record takes minutes).

import re
import sys

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

key_file, off, length, n, first, body_file = sys.argv[1:7]
off, length, n, first = int(off), int(length), int(n), int(first)

with open(key_file, 'rb') as f:
    key = serialization.load_pem_private_key(f.read(), password=None)

with open(body_file) as f:
    body = f.read()
fmspc = re.compile(r'("fmspc"\s*:\s*")[0-9A-Fa-f]{12}"')

for i in range(first, first + n):
    name = '%012x' % i
    b = fmspc.sub(lambda m: m.group(1) + name.upper() + '"', body, count=1)
    der = key.sign(b[off:off + length].encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    sig = '%064x%064x' % (r, s)
    b = re.sub(r'("signature"\s*:\s*")[0-9a-fA-F]{128}"',
               lambda m: m.group(1) + sig + '"', b, count=1)
    out = b.encode()
    sys.stdout.buffer.write(b'%s %d\n' % (name.encode(), len(out)) + out)
