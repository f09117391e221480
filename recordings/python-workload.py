# Workload for recordings/python.strace: grows a bytearray past glibc's mmap threshold (realloc
# then uses mremap, in place or moving), builds and serialises a large dict (brk heap and pymalloc
# arenas), then snapshots /proc/self/maps into the file named by argv[1]. The snapshot is read
# into buffers allocated beforehand, between two marker mappings (11 and 13 anonymous shared
# pages): when no other memory call is recorded between the two markers, the snapshot is exactly
# the state after the first marker's mmap line.
import json
import mmap
import os
import sys

b = bytearray()
for _ in range(64):
    b.extend(b"x" * 65536)
d = {i: str(i) for i in range(200000)}
s = json.dumps(d)
del d
chunks = [bytearray(8192) for _ in range(64)]
sizes = [0] * 64
fd = os.open("/proc/self/maps", os.O_RDONLY)
marker1 = mmap.mmap(-1, 11 * 4096)
i = 0
while i < 64:
    sizes[i] = os.readv(fd, [chunks[i]])
    if sizes[i] == 0:
        break
    i += 1
marker2 = mmap.mmap(-1, 13 * 4096)
os.close(fd)
with open(sys.argv[1], "wb") as f:
    for c, k in zip(chunks, sizes):
        f.write(c[:k])
print(len(s), len(b))
