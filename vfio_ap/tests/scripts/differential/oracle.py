"""A second, independent reading of docs/vfio-ap-model.md and docs/vfio-ap-sim.md.

The script tests (tests/scripts/*.expected) pin hand-derived scenarios; this
oracle derives the expected output of any script in the subset differential.py
generates (no quoting, one word per value), so random scripts can be compared
with the C++ model. It follows the reference section by section: kstrtoul
(section 2.0), ap_hex2bitmap and ap_config's strsep fields (2.9), validation
(3.1), the in_use veto (3.2), filtering (3.3), hot unplug (2.2, 2.4), queue
probe/remove (4.5), configuration changes (4.6), set/unset_kvm (4.2, 4.3) and
the reference counts of docs/vfio-ap-sim.md.

Where neither document decides, it follows the model's documented choice
(vfio_ap/host.hpp), marked "model choice" below:
  * a changed apmask/aqmask re-probes every queue device whose binding no
    longer matches, driverless ones included (the kernel's
    __ap_revise_reserved would dereference a NULL driver there);
  * qci refuses ids above na/nd (63/15 without APXA): QCI never reports them;
  * removing an open mdev closes it first (the kernel's remove waits for
    userspace to close it).
"""
import re
import sys

ENAMES = {'EPERM': 'Operation not permitted', 'ENOENT': 'No such file or directory',
          'EBUSY': 'Device or resource busy', 'EEXIST': 'File exists', 'ENODEV': 'No such device',
          'EINVAL': 'Invalid argument', 'ERANGE': 'Numerical result out of range',
          'EACCES': 'Permission denied', 'EADDRINUSE': 'Address already in use',
          'EADDRNOTAVAIL': 'Cannot assign requested address', 'EBADF': 'Bad file descriptor'}

class Err(Exception):
    pass

def kstrtoul(s):
    s = s.split('\0')[0]
    i = 0
    if s[:1] == '+': i = 1
    base = 10
    if s[i:i+1] == '0':
        if s[i+1:i+2] in ('x', 'X') and s[i+2:i+3] != '' and s[i+2] in '0123456789abcdefABCDEF':
            base = 16; i += 2
        else:
            base = 8
    v = 0; n = 0; over = False
    while i < len(s):
        c = s[i].lower()
        d = '0123456789abcdef'.find(c) if c else -1
        if d < 0 or d >= base: break
        v = v * base + d
        if v >= 1 << 64: over = True
        n += 1; i += 1
    if over: raise Err('ERANGE')
    if n == 0: raise Err('EINVAL')
    if s[i:i+1] == '\n': i += 1
    if i != len(s): raise Err('EINVAL')
    return v

def hex2bitmap(tok):
    i = 0
    if tok[:2] == '0x': i = 1
    if tok[i:i+1] == 'x': i += 1
    ids = set(); bit = 0
    while i < len(tok) and tok[i] in '0123456789abcdefABCDEF' and bit < 256:
        d = int(tok[i], 16)
        for k in range(4):
            if d & (8 >> k): ids.add(bit + k)
        bit += 4; i += 1
    if tok[i:i+1] == '\n': i += 1
    if i != len(tok): raise Err('EINVAL')
    return ids

def mask_str(ids):
    v = 0
    for n in ids: v |= 1 << (255 - n)
    return "0x%064x" % v

def modify_bitmap(s, bm):
    bm = set(bm); i = 0
    def strtoul(i):
        m = re.match(r'(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)', s[i:])
        if not m: return None, i
        t = m.group(1)
        if t.lower().startswith('0x'): v = int(t, 16)
        elif t.startswith('0') and len(t) > 1: v = int(t, 8)
        else: v = int(t)
        return v, i + len(t)
    while i < len(s):
        sign = s[i]; i += 1
        if sign not in '+-': raise Err('EINVAL')
        a, j = strtoul(i)
        if a is None or a >= 256: raise Err('EINVAL')
        i = j; z = a
        if s[i:i+1] == '-':
            z, j = strtoul(i + 1)
            if z is None or a > z or z >= 256: raise Err('EINVAL')
            i = j
        for k in range(a, z + 1):
            (bm.add if sign == '+' else bm.discard)(k)
        while s[i:i+1] in (',', '\n') and i < len(s): i += 1
    return bm

def matrix_show(apm, aqm, amax, qmax):
    apm = sorted(a for a in apm if a <= amax); aqm = sorted(q for q in aqm if q <= qmax)
    if apm and aqm: out = "".join("%02x.%04x\n" % (a, q) for a in apm for q in aqm)
    elif apm: out = "".join("%02x.\n" % a for a in apm)
    elif aqm: out = "".join(".%04x\n" % q for q in aqm)
    else: out = ""
    return out[:4095]

class VQ:
    def __init__(self, apqn):
        self.apqn = apqn; self.reset_status = 0; self.mdev = None

class Mdev:
    def __init__(self, uuid, info):
        self.uuid = uuid
        self.apm_max = info['na'] if info['apxa'] else 63
        self.aqm_max = info['nd'] if info['apxa'] else 15
        self.adm_max = self.aqm_max
        self.apm = set(); self.aqm = set(); self.adm = set()
        self.s_apm = set(); self.s_aqm = set(); self.s_adm = set()
        self.table = {}; self.kvm = None; self.open = False
        self.apm_add = set(); self.aqm_add = set(); self.adm_add = set()

class Kvm:
    def __init__(self):
        self.refs = 1; self.creator = True; self.apcb = (set(), set(), set()); self.hook = None

class Host:
    def __init__(self):
        self.info = dict(apxa=1, na=255, nd=255, apm=set(), aqm=set(), adm=set())
        self.apmask = set(range(256)); self.aqmask = set(range(256))
        self.dev = {}   # apqn -> 'host' | None | VQ
        self.faults = {}; self.mdevs = []; self.kvms = {}

    # ---- helpers
    def reserved(self, a, q): return a in self.apmask and q in self.aqmask
    def passable(self, vq): return vq.reset_status in (0, 3, 4)
    def reset(self, vq): vq.reset_status = self.faults.get(vq.apqn, 0)
    def update_guest(self, m):
        if m.kvm is not None: m.kvm.apcb = (set(m.s_apm), set(m.s_aqm), set(m.s_adm))
    def filter_matrix(self, m):
        prev_apm, prev_aqm = set(m.s_apm), set(m.s_aqm)
        apm = m.apm & self.info['apm']; aqm = m.aqm & self.info['aqm']; filtered = set()
        for a in sorted(apm):
            for q in sorted(aqm):
                vq = m.table.get((a, q))
                if vq is None or not self.passable(vq):
                    apm.discard(a)
                    if a in prev_apm: filtered.add(a)
                    break
        m.s_apm, m.s_aqm = apm, aqm
        return (prev_apm != apm or prev_aqm != aqm), filtered
    def filter_cdoms(self, m):
        new = m.adm & self.info['adm']; ch = new != m.s_adm; m.s_adm = new; return ch
    def reset_for_apids(self, m, apids):
        for a in sorted(apids):
            for q in sorted(m.s_aqm):
                vq = m.table.get((a, q))
                if vq: self.reset(vq)
    def refilter(self, m):
        ch, f = self.filter_matrix(m)
        if ch:
            self.update_guest(m); self.reset_for_apids(m, f)
    def vfio_queue(self, apqn):
        d = self.dev.get(apqn); return d if isinstance(d, VQ) else None
    def link(self, m, apqn):
        vq = self.vfio_queue(apqn)
        if vq: vq.mdev = m; m.table[apqn] = vq
    def hot_unplug(self, m, apids, apqis):
        resets = []; upd = False
        for a in sorted(apids):
            for q in sorted(m.aqm):
                vq = m.table.pop((a, q), None)
                if vq and a in m.s_apm and q in m.s_aqm: resets.append(vq)
        for q in sorted(apqis):
            for a in sorted(m.apm):
                vq = m.table.pop((a, q), None)
                if vq and a in m.s_apm and q in m.s_aqm: resets.append(vq)
        for a in apids:
            if a in m.s_apm: m.s_apm.discard(a); upd = True
        for q in apqis:
            if q in m.s_aqm: m.s_aqm.discard(q); upd = True
        if upd: self.update_guest(m)
        for vq in resets: self.reset(vq)
        for vq in resets: vq.mdev = None
    def validate(self, m):
        if (m.apm & self.apmask) and (m.aqm & self.aqmask): raise Err('EADDRNOTAVAIL')
        for x in self.mdevs:
            if x is not m and (m.apm & x.apm) and (m.aqm & x.aqm): raise Err('EADDRINUSE')
    def owner(self, apqn):
        for m in self.mdevs:
            if apqn[0] in m.apm and apqn[1] in m.aqm: return m
        return None
    def probe(self, apqn):
        vq = VQ(apqn); self.dev[apqn] = vq
        m = self.owner(apqn)
        if m:
            vq.mdev = m; m.table[apqn] = vq
            if not (m.apm_add or m.aqm_add): self.refilter(m)
    def remove_queue(self, vq):
        m = vq.mdev; a, q = vq.apqn
        if m and a in m.s_apm and q in m.s_aqm:
            m.s_apm.discard(a); self.update_guest(m)
            for qq in sorted(m.s_aqm):
                x = m.table.get((a, qq))
                if x: self.reset(x)
            if vq.apqn not in m.table: self.reset(vq)  # it is in {a} x shadow.aqm
        elif a in self.info['apm'] and q in self.info['aqm']:
            self.reset(vq)
        if m: m.table.pop(vq.apqn, None)
    def mdev(self, uuid):
        for m in self.mdevs:
            if m.uuid == uuid: return m
        return None
    def revise(self):
        for apqn in sorted(self.dev):
            d = self.dev[apqn]; res = self.reserved(*apqn)
            if isinstance(d, VQ) and res:
                self.remove_queue(d); self.dev[apqn] = 'host'
            elif d == 'host' and not res:
                self.probe(apqn)
            elif d is None:  # model choice: driverless queues are re-probed too
                if res: self.dev[apqn] = 'host'
                else: self.probe(apqn)

    # ---- sysfs
    def write(self, path, val):
        p = path.split('/')[1:]
        if path in ('/sys/bus/ap/apmask', '/sys/bus/ap/aqmask'):
            is_ap = path.endswith('apmask')
            old = self.apmask if is_ap else self.aqmask
            new = modify_bitmap(val, old) if val[:1] in '+-' and val else hex2bitmap(val)
            res = new - old
            if res:
                apm, aqm = (res, self.aqmask) if is_ap else (self.apmask, res)
                for m in self.mdevs:
                    if (m.apm & apm) and (m.aqm & aqm): raise Err('EBUSY')
            changed = new != old  # model choice: revise bindings only on a change
            if is_ap: self.apmask = new
            else: self.aqmask = new
            if changed: self.revise()
            return
        if path in ('/sys/bus/ap/drivers/vfio_ap/bind', '/sys/bus/ap/drivers/vfio_ap/unbind'):
            name = val[:-1] if val.endswith('\n') else val
            mm = re.fullmatch(r'([0-9a-f]{2})\.([0-9a-f]{4})', name)
            apqn = (int(mm.group(1), 16), int(mm.group(2), 16)) if mm else None
            if apqn not in self.dev: raise Err('ENODEV')
            d = self.dev[apqn]
            if path.endswith('/unbind'):
                if not isinstance(d, VQ): raise Err('ENODEV')
                self.remove_queue(d); self.dev[apqn] = None; return
            if d is not None: raise Err('EBUSY')
            if self.reserved(*apqn): raise Err('ENODEV')
            self.probe(apqn); return
        T = '/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/'
        if path == T + 'create':
            if not (36 <= len(val) <= 37): raise Err('EINVAL')
            u = val[:36]
            if not re.fullmatch(r'[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', u): raise Err('EINVAL')
            u = u.lower()
            if self.mdev(u): raise Err('EEXIST')
            self.mdevs.insert(0, Mdev(u, self.info)); return
        if path in (T + 'available_instances', '/sys/devices/vfio_ap/matrix/features'): raise Err('EACCES')
        mm = re.fullmatch(r'/sys/devices/vfio_ap/matrix/([^/]+)/([^/]+)', path)
        if mm and self.mdev(mm.group(1)):
            return self.mdev_write(self.mdev(mm.group(1)), mm.group(2), val)
        mm = re.fullmatch(r'/sys/bus/ap/devices/([0-9a-f]{2})\.([0-9a-f]{4})/status', path)
        if mm and isinstance(self.dev.get((int(mm.group(1), 16), int(mm.group(2), 16))), VQ): raise Err('EACCES')
        raise Err('ENOENT')

    def mdev_write(self, m, attr, val):
        if attr == 'remove':
            v = kstrtoul(val)
            if v:
                if m.open: self.vfio_close(m.uuid)  # model choice: remove closes first
                for vq in list(m.table.values()): self.reset(vq)
                for vq in list(m.table.values()): vq.mdev = None
                for d in self.dev.values():
                    if isinstance(d, VQ) and d.mdev is m: d.mdev = None
                self.mdevs.remove(m)
            return
        if attr in ('assign_adapter', 'assign_domain', 'unassign_adapter', 'unassign_domain'):
            ad = attr.endswith('adapter')
            v = kstrtoul(val)
            if v > (m.apm_max if ad else m.aqm_max): raise Err('ENODEV')
            s = m.apm if ad else m.aqm
            if attr.startswith('assign'):
                if v in s: return
                s.add(v)
                try: self.validate(m)
                except Err: s.discard(v); raise
                for o in sorted(m.aqm if ad else m.apm):
                    self.link(m, (v, o) if ad else (o, v))
                self.refilter(m)
            else:
                if v not in s: return
                s.discard(v)
                self.hot_unplug(m, {v} if ad else set(), set() if ad else {v})
            return
        if attr in ('assign_control_domain', 'unassign_control_domain'):
            v = kstrtoul(val)
            if v > m.adm_max: raise Err('ENODEV')
            if attr.startswith('assign'):
                if v in m.adm: return
                m.adm.add(v)
                if self.filter_cdoms(m): self.update_guest(m)
            else:
                if v not in m.adm: return
                m.adm.discard(v)
                if v in m.s_adm: m.s_adm.discard(v); self.update_guest(m)
            return
        if attr == 'ap_config':
            buf = val[:201]; rest = buf; toks = []
            for _ in range(3):
                if rest is None: raise Err('EINVAL')
                k = min([x for x in (rest.find(','), rest.find('\n')) if x >= 0], default=-1)
                if k < 0: toks.append(rest); rest = None
                else: toks.append(rest[:k]); rest = rest[k+1:]
            new = [hex2bitmap(t) for t in toks]
            old = (set(m.apm), set(m.aqm), set(m.adm))
            m.apm, m.aqm, m.adm = set(new[0]), set(new[1]), set(new[2])
            try:
                self.validate(m)
                if any(x > m.apm_max for x in m.apm) or any(x > m.aqm_max for x in m.aqm) or any(x > m.adm_max for x in m.adm):
                    raise Err('ENODEV')
            except Err:
                m.apm, m.aqm, m.adm = old; raise
            rem_apm = old[0] - new[0]; rem_aqm = old[1] - new[1]
            add_apm = new[0] - old[0]; add_aqm = new[1] - old[1]
            m.apm, m.aqm, m.adm = old
            self.hot_unplug(m, rem_apm, set())
            self.hot_unplug(m, set(), rem_aqm)
            m.apm, m.aqm, m.adm = set(new[0]), set(new[1]), set(new[2])
            for a in sorted(add_apm):
                for q in sorted(m.aqm): self.link(m, (a, q))
            for q in sorted(add_aqm):
                for a in sorted(m.apm): self.link(m, (a, q))
            ch, f = self.filter_matrix(m)
            ch2 = self.filter_cdoms(m)
            if ch or ch2:
                self.update_guest(m); self.reset_for_apids(m, f)
            return
        if attr in ('matrix', 'guest_matrix', 'control_domains'): raise Err('EACCES')
        raise Err('ENOENT')

    def read(self, path):
        if path in ('/sys/bus/ap/apmask', '/sys/bus/ap/aqmask'):
            return mask_str(self.apmask if path.endswith('apmask') else self.aqmask) + "\n"
        T = '/sys/devices/vfio_ap/matrix/mdev_supported_types/vfio_ap-passthrough/'
        if path == T + 'available_instances': return "%d\n" % (65536 - len(self.mdevs))
        if path == '/sys/devices/vfio_ap/matrix/features': return "guest_matrix hotplug ap_config\n"
        if path in (T + 'create', '/sys/bus/ap/drivers/vfio_ap/bind', '/sys/bus/ap/drivers/vfio_ap/unbind'): raise Err('EACCES')
        mm = re.fullmatch(r'/sys/bus/ap/devices/([0-9a-f]{2})\.([0-9a-f]{4})/status', path)
        if mm:
            apqn = (int(mm.group(1), 16), int(mm.group(2), 16))
            if not isinstance(self.dev.get(apqn), VQ): raise Err('ENOENT')
            m = self.owner(apqn)
            if not m: return "unassigned\n"
            if m.kvm and apqn[0] in m.s_apm and apqn[1] in m.s_aqm: return "in use\n"
            return "assigned\n"
        mm = re.fullmatch(r'/sys/devices/vfio_ap/matrix/([^/]+)/([^/]+)', path)
        if mm and self.mdev(mm.group(1)):
            m = self.mdev(mm.group(1)); a = mm.group(2)
            if a == 'matrix': return matrix_show(m.apm, m.aqm, m.apm_max, m.aqm_max)
            if a == 'guest_matrix': return matrix_show(m.s_apm, m.s_aqm, 255, 255)
            if a == 'control_domains': return "".join("%04x\n" % d for d in sorted(m.adm) if d <= m.adm_max)
            if a == 'ap_config': return "%s,%s,%s\n" % (mask_str(m.apm), mask_str(m.aqm), mask_str(m.adm))
            if a in ('assign_adapter', 'assign_domain', 'unassign_adapter', 'unassign_domain', 'assign_control_domain', 'unassign_control_domain', 'remove'): raise Err('EACCES')
        raise Err('ENOENT')

    # ---- host commands
    def qci(self, upd):
        prev = {k: (set(v) if isinstance(v, set) else v) for k, v in self.info.items()}
        cur = dict(prev); cur.update(upd)
        # model choice: QCI never reports an id above its maximum
        amax = cur['na'] if cur['apxa'] else 63; dmax = cur['nd'] if cur['apxa'] else 15
        if any(a > amax for a in cur['apm']) or any(q > dmax for q in cur['aqm'] | cur['adm']):
            raise Err('EINVAL')
        if cur == prev: return
        aprem = prev['apm'] - cur['apm']; aqrem = prev['aqm'] - cur['aqm']; cdrem = prev['adm'] - cur['adm']
        if aprem or aqrem or cdrem:
            for m in self.mdevs:
                a, q, c = aprem & m.apm, aqrem & m.aqm, cdrem & m.adm
                if a or q or c:
                    hp = False
                    if m.s_apm & a: m.s_apm -= a; hp = True
                    if m.s_aqm & q: m.s_aqm -= q; hp = True
                    if m.s_adm & c: m.s_adm -= c; hp = True
                    if hp: self.update_guest(m)
        apa = cur['apm'] - prev['apm']; aqa = cur['aqm'] - prev['aqm']; ada = cur['adm'] - prev['adm']
        if (apa or aqa or ada) and self.mdevs:
            for m in self.mdevs:
                m.apm_add = m.apm & apa; m.aqm_add = m.aqm & aqa; m.adm_add = m.adm & ada
        self.info = cur
        want = {(a, q) for a in cur['apm'] for q in cur['aqm']}
        for apqn in sorted(set(self.dev) | want):
            if apqn in self.dev and apqn not in want:
                d = self.dev.pop(apqn)
                if isinstance(d, VQ): self.remove_queue(d)
            elif apqn not in self.dev:
                if self.reserved(*apqn): self.dev[apqn] = 'host'
                else: self.probe(apqn)
        for m in self.mdevs:
            if not (m.apm_add or m.aqm_add or m.adm_add): continue
            f = set(); hp = False
            if (m.apm & m.apm_add) or (m.aqm & m.aqm_add):
                hp, f = self.filter_matrix(m)
            if m.adm & m.adm_add:
                hp |= self.filter_cdoms(m)
            if hp: self.update_guest(m)
            self.reset_for_apids(m, f)
            m.apm_add = set(); m.aqm_add = set(); m.adm_add = set()

    def kvm(self, name):
        k = self.kvms.get(name)
        if k is None: raise Err('ENOENT')
        return k
    def put(self, name, k):
        k.refs -= 1
        if k.refs == 0: del self.kvms[name]
    def vfio_open(self, uuid, name):
        m = self.mdev(uuid)
        if m is None: raise Err('ENOENT')
        if m.open: raise Err('EBUSY')
        k = self.kvm(name)
        if k.hook is not None: raise Err('EPERM')
        k.refs += 1; k.hook = m; m.kvm = k; m.kname = name; m.open = True
        self.update_guest(m)
    def vfio_close(self, uuid):
        m = self.mdev(uuid)
        if m is None: raise Err('ENOENT')
        if not m.open: raise Err('EBADF')
        k = m.kvm
        k.hook = None; k.apcb = (set(), set(), set())
        for vq in list(m.table.values()): self.reset(vq)
        m.kvm = None; m.open = False
        self.put(m.kname, k)

def parse_list(v):
    ids = set()
    if v == '': return ids
    for item in v.split(','):
        if item == '': raise Err('EINVAL')
        parts = item.split('-', 1)
        a = num(parts[0], 255); b = num(parts[1], 255) if len(parts) == 2 else a
        if b < a: raise Err('EINVAL')
        ids |= set(range(a, b + 1))
    return ids

def num(t, mx):
    if t.endswith('\n'): raise Err('EINVAL')
    v = kstrtoul(t)
    if v > mx: raise Err('ERANGE')
    return v

def apqn_word(t):
    mm = re.fullmatch(r'([0-9a-fA-F]{2})\.([0-9a-fA-F]{4})', t)
    if not mm: raise Err('EINVAL')
    a, q = int(mm.group(1), 16), int(mm.group(2), 16)
    if q > 255: raise Err('ERANGE')
    return (a, q)

def run(script):
    h = Host(); out = []; vars_ = {}; cwd = '/'
    def resolve(p):
        parts = []
        for seg in ((cwd + '/' + p) if not p.startswith('/') else p).split('/'):
            if seg == '..':
                if parts: parts.pop()
            elif seg and seg != '.': parts.append(seg)
        return '/' + '/'.join(parts)
    for line in script.split('\n'):
        line = line.strip(' \t')
        if not line or line.startswith('#'): continue
        line = re.sub(r'\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?', lambda mm: vars_[mm.group(1)], line)
        mm = re.fullmatch(r'([A-Za-z_][A-Za-z0-9_]*)=(\S*)', line)
        if mm: vars_[mm.group(1)] = mm.group(2); continue
        w = line.split()
        try:
            if w[0] == 'echo':
                nl = True; i = 1
                if w[1] == '-n': nl = False; i = 2
                k = w.index('>')
                val = ' '.join(w[i:k]) + ('\n' if nl else '')
                h.write(resolve(w[k + 1]), val)
            elif w[0] == 'cat': out.append(h.read(resolve(w[1])))
            elif w[0] == 'cd': cwd = resolve(w[1])
            elif w[0] == 'qci':
                upd = {}
                for kv in w[1:]:
                    k, v = kv.split('=', 1)
                    if k == 'apxa':
                        x = num(v, 1 << 64)
                        if x > 1: raise Err('EINVAL')
                        upd[k] = x
                    elif k in ('na', 'nd'): upd[k] = num(v, 255)
                    else: upd[k] = parse_list(v)
                h.qci(upd)
            elif w[0] == 'zapq-fault':
                a = apqn_word(w[1]); rc = num(w[2], 255)
                if rc: h.faults[a] = rc
                else: h.faults.pop(a, None)
            elif w[0] == 'kvm':
                if w[1] == 'create':
                    if w[2] in h.kvms: raise Err('EEXIST')
                    h.kvms[w[2]] = Kvm()
                elif w[1] == 'destroy':
                    k = h.kvm(w[2])
                    if not k.creator: raise Err('ENOENT')
                    k.creator = False; h.put(w[2], k)
                elif w[1] == 'refs': out.append("%d\n" % h.kvm(w[2]).refs)
                elif w[1] == 'crycb':
                    k = h.kvm(w[2]); out.append("%s,%s,%s\n" % tuple(mask_str(x) for x in k.apcb))
            elif w[0] == 'vfio':
                if w[1] == 'open': h.vfio_open(w[2], w[3])
                else: h.vfio_close(w[2])
            elif w[0] == 'pqap':
                k = h.kvm(w[1]); a = apqn_word(w[2])
                m = k.hook
                out.append("rc=0x%02x\n" % (0 if (m is not None and m.kvm is k and a in m.table) else 1))
            elif w[0] == 'check': out.append("ok\n")
        except Err as e:
            out.append("error: %s: %s\n" % (e.args[0], ENAMES[e.args[0]]))
    return "".join(out)

if __name__ == '__main__':
    sys.stdout.write(run(open(sys.argv[1]).read()))
