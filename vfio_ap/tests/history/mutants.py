#!/usr/bin/env python3
"""History-suite mutants: re-introduce a historic vfio-ap bug into a scratch
copy of vfio_ap/include/vfio_ap/ and check that the history test meant for it
fails. Not run by CTest (it rebuilds the test once per mutant, ~30 s each);
run it by hand after changing the model or the history tests:

    tests/history/mutants.py BUILD_DIR [MUTANT...]

BUILD_DIR is a configured release build that has built vfio_ap_history_test
(its link line is reused). A mutant whose pattern no longer matches the model
prints PATTERN NOT FOUND: update the pattern, do not delete the mutant.
Each line: name -> (header, model text, the bug, gtest filter of the tests
that must fail). Exit status 1 if any mutant survives.
"""
import os, shutil, subprocess, sys, tempfile

MODEL = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = os.path.dirname(MODEL)
SRC = os.path.join(MODEL, 'include')   # the model's headers (vfio_ap/...), mutated
LIB = os.path.join(ROOT, 'include')    # the library's headers (ordo/...), as they are
TEST = os.path.join(MODEL, 'tests', 'history', 'vfio_ap_history_test.cpp')
if len(sys.argv) < 2:
    sys.exit(__doc__)
BUILD = sys.argv[1]
ninja = open(os.path.join(BUILD, 'build.ninja')).read().split('\n')
link = next(l for l in ninja if l.startswith('build vfio_ap/tests/vfio_ap_history_test '))
LIBS = sorted({w for w in link.split() if w.endswith('.a') or '.so' in w})
COMPILER = os.environ.get('CXX', 'g++')

MD = 'vfio_ap/matrix_dev.hpp'
HOST = 'vfio_ap/host.hpp'
# name: (header, [(model text, bug text), ...], gtest filter that must fail)
muts = {
    # rows 1/2 (258287c994de): close keeps the KVM reference
    'row01_close_leaks_kvm_ref': (HOST, [('put(std::move(m.vfio_kvm));  // vfio_device_put_kvm',
                                          '(void)m.vfio_kvm.release();')], '*Row01_02_Close*:*Row04*'),
    # row 2 (f21916ec4826): unset_kvm does not reset the queues
    'row02_unset_kvm_no_reset': (MD, [('    reset_queues(md, m);\n    m.guest = nullptr;', '    m.guest = nullptr;')],
                                 '*Row01_02_Close*'),
    # row 4: remove of an open mdev vetoed with EBUSY
    'row04_remove_vetoes': (HOST, [('  if (m->open) {\n    matrix_.request',
                                    '  if (m->open) return errc(std::errc::device_or_resource_busy);\n'
                                    '  if (false) {\n    matrix_.request')], '*Row04*'),
    # row 7: no in_use veto for apmask/aqmask
    'row07_no_in_use_veto': (MD, [('return verify_no_sharing(md, nullptr, apm, aqm);',
                                   '(void)apm; (void)aqm; return {};')], '*Row07*:*Row12*'),
    # row 8 (48cae940c31d and the 2023 series): unbound APQNs pass the filter
    'row08_no_bind_filter': (MD, [('if (!m.shadow.aqm.is_subset_of(m.usable[a.value()])) {', 'if (false) {')],
                             '*Row08_Unbound*'),
    # row 8: unbinding resets only the unbound queue, not its adapter's others
    'row08_unbind_resets_only_itself': (MD, [('reset_queues_for_apids(md, *m, ap::adapter_mask::of(apqn.card()));\n    } else if',
                                              'reset_queue(md, *q);\n    } else if')], '*Row08_Queues*'),
    # row 8 ("do not reset queue removed from host config"): a removed queue
    # outside the host configuration is reset anyway (both guards: remove_queue's
    # and reset_queue's D5)
    'row08_reset_deconfigured': (MD, [('} else if (info_.apm.test(apqn.card()) && info_.aqm.test(apqn.queue())) {',
                                       '} else if (true) {'),
                                      ('    if (!info_.apm.test(q.apqn.card()) || !info_.aqm.test(q.apqn.queue())) return;\n',
                                       '')], '*Row08_Queues*'),
    # row 8: a queue whose reset failed counts as passable
    'row08_failed_reset_passable': (MD, [('return reset_rc == ap_response_normal ||', 'return true ||')],
                                    '*Row08_Failed*'),
    # row 11: a refused ap_config write leaves the new matrix installed
    'row11_ap_config_keeps_refused': (MD, [('      m->matrix = m_old;\n      if (err) return err;',
                                            '      if (err) return err;\n      m->matrix = m_old;')], '*Row11*'),
    # row 13: set_kvm [6.16] installs the loser's hook before the EPERM check
    'row13_hook_on_eperm': (MD, [('    for (const auto& other : mdev_list_) {\n      if (other->guest == &guest)',
                                  '    guest.clear_pqap_hook(md); (void)guest.publish_pqap_hook(md, m.pqap_hook);\n'
                                  '    for (const auto& other : mdev_list_) {\n      if (other->guest == &guest)')],
                            '*Row13_Eperm*'),
    # row 13: hot_unplug_cfg's [6.16] "result non-empty" as "changed"
    'row13_changed_detection': (MD, [('m.shadow.apm = m.shadow.apm.andnot(aprem);\n      do_hotplug = true;',
                                      'm.shadow.apm = m.shadow.apm.andnot(aprem);\n      do_hotplug = !m.shadow.apm.empty();')],
                                '*Row13_GuestUpdated*'),
    # row 13: cdrem computed with the wrong operand
    'row13_wrong_cdrem': (MD, [('cdrem & m->matrix.adm', 'cdrem.andnot(m->matrix.adm)')], '*Row13_RemovedControl*'),
    # row 13: [6.16] do_remove accumulates, with [6.16]'s change detection
    'row13_accumulating_do_remove': (MD, [
        ('    if (!aprem.empty() || !aqrem.empty() || !cdrem.empty()) {\n      for (const auto& m : mdev_list_) {',
         '    if (!aprem.empty() || !aqrem.empty() || !cdrem.empty()) {\n      bool any_removed = false;\n'
         '      for (const auto& m : mdev_list_) {'),
        ('          if (ap_rm.empty() && aq_rm.empty() && cd_rm.empty()) return;\n',
         '          any_removed = any_removed || !(ap_rm.empty() && aq_rm.empty() && cd_rm.empty());\n'
         '          if (!any_removed) return;\n'),
        ('    if (m.shadow.apm.intersects(aprem)) {\n      m.shadow.apm = m.shadow.apm.andnot(aprem);\n      do_hotplug = true;\n    }',
         '    m.shadow.apm = m.shadow.apm.andnot(aprem);\n    do_hotplug = do_hotplug || !m.shadow.apm.empty();')],
        '*Row13_RemovalIsPerMdev*'),
}

survivors = []
which = sys.argv[2:] or list(muts)
with tempfile.TemporaryDirectory() as scratch:
    for name in which:
        header, edits, filt = muts[name]
        mut = os.path.join(scratch, name)
        shutil.copytree(SRC, os.path.join(mut, 'include'))
        path = os.path.join(mut, 'include', header)
        text = open(path).read()
        missing = [old for old, _ in edits if old not in text]
        if missing:
            print(name, 'PATTERN NOT FOUND:', repr(missing[0][:60]))
            survivors.append(name)
            continue
        for old, new in edits:
            text = text.replace(old, new, 1)
        open(path, 'w').write(text)
        exe = os.path.join(mut, 'history_test')
        build = subprocess.run([COMPILER, '-I' + os.path.join(mut, 'include'), '-I' + LIB, '-O1', '-std=gnu++20',
                                '-DGTEST_HAS_PTHREAD=1', TEST, '-o', exe] + LIBS + ['-lpthread'],
                               capture_output=True, text=True)
        if build.returncode:
            print(name, 'BUILD FAILED', build.stderr[-1500:])
            survivors.append(name)
            continue
        run = subprocess.run([exe, '--gtest_filter=' + filt], capture_output=True, text=True)
        failed = sorted({l.split()[3] for l in run.stdout.splitlines()
                         if l.startswith('[  FAILED  ] History')})
        print(name, '->', 'caught by ' + ', '.join(failed) if run.returncode else 'SURVIVED')
        if not run.returncode:
            survivors.append(name)
sys.exit(1 if survivors else 0)
