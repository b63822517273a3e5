#!/usr/bin/env python3
"""Mutation checks of the primitives: put one load-bearing line of a header
back the way a plausible bug would write it, rebuild one test binary and check
that the tests meant to catch it fail. Not run by CTest (each mutant rebuilds a
test binary); run it by hand after changing a primitive or its tests:

    tests/mutants/primitives.py [--list] [--keep] [NAME_OR_PREFIX...]

--list prints the table and checks that each row's exact text occurs exactly
once in the working tree's header (exit status 1 if not). ORDO_MUTANT_JOBS
sets the build's -j (default 2).

With no names every mutant runs. The source tree (without build/ and .git) is
copied once per preset into a scratch directory under build/mutants/, that
copy is configured once (cmake --preset PRESET), and each mutant edits one
header there, builds its target, runs its gtest filter (with a time limit: a
mutant that makes a test hang is killed too) and restores the header.

A row of MUTANTS is one mutant:
    name: (header, [(exact text, replacement), ...], target, gtest filter, preset)
The exact text must occur exactly once in the header; if it no longer does the
mutant prints PATTERN NOT FOUND (update the pattern, do not delete the row).
A mutant is KILLED when its filter fails (or hangs past the limit), SURVIVED
when the filter passes, BROKEN when the mutated tree does not build (a
mutant the compiler rejects proves nothing about the tests). Exit status 1 if
any mutant survives or is broken.
"""
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRATCH = os.path.join(ROOT, 'build', 'mutants')
TIME_LIMIT = 60  # seconds per filter run

RCU = 'include/ordo/rcu.hpp'
FENCE = 'include/ordo/detail/asymmetric_fence.hpp'
HOOK = 'include/ordo/hook.hpp'
HAZPTR = 'include/ordo/hazard_pointer.hpp'
MODULE = 'include/ordo/module.hpp'
REF = 'include/ordo/ref.hpp'
REFCOUNT = 'include/ordo/refcount.hpp'
LOCKDEP = 'include/ordo/lockdep.hpp'
ORDERED = 'include/ordo/ordered_mutex.hpp'

# name: (header, [(text, replacement), ...], target, gtest filter, preset)
MUTANTS = {
    # --- rcu.hpp -----------------------------------------------------------
    # The grace period's heavy fence (membarrier(2)) is not issued.
    'rcu_no_heavy_fence': (RCU, [('if (detail::membarrier_heavy_fence()) [[likely]] return;',
                                  'return;')],
                           'rcu_test', 'RcuDomain.EveryGracePeriodIssuesTheHeavyFence*', 'release'),
    # The shared heavy fence returns without the system call.
    'fence_no_membarrier_call': (FENCE, [('if (call(MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0) [[likely]] return true;',
                                          '(void)call;\n    if (true) return true;')],
                                 'rcu_test', 'RcuDomain.EveryGracePeriodIssuesTheHeavyFence*', 'release'),
    # Grace periods do not wait for anonymous (post-teardown) sections.
    'rcu_no_anonymous_wait': (RCU, [('for (unsigned round = 0; anonymous_readers_.load(std::memory_order_acquire) != 0; ++round) {',
                                     'for (unsigned round = 0; false; ++round) {')],
                              'rcu_test', 'RcuDomain.AnonymousSectionsAreKnownAndWaitedFor', 'release'),
    # Grace periods do not wait for records with an old epoch (I2).
    'rcu_no_reader_wait': (RCU, [('if ((seen & detail::rcu_nesting_mask) == 0 || seen >= target) {  // I2',
                                  'if ((seen & detail::rcu_nesting_mask) == 0 || seen >= target || true) {')],
                           'rcu_test', 'RcuDomain.SynchronizeWaitsForPreexistingReader:RcuDomain.NestedSection*',
                           'release'),
    # A nested unlock ends the whole section.
    'rcu_nested_unlock_ends_outermost': (RCU, [('token.record->counter.store(token.entered - 1, std::memory_order_release);',
                                                'token.record->counter.store(token.entered & ~detail::rcu_nesting_mask, std::memory_order_release);')],
                                         'rcu_test', 'RcuDomain.ReadSectionsNest', 'release'),
    # read_unlock()'s inlined fast path ends the whole section.
    'rcu_read_unlock_ends_outermost': (RCU, [('''        record->counter.store(counter - 1, std::memory_order_release);
        notify_grace_period(record, counter - 1);
        return;''', '''        record->counter.store(counter & ~detail::rcu_nesting_mask, std::memory_order_release);
        return;''')],
                                       'rcu_test', 'RcuDomain.ReadSectionsNest:RcuDomain.NestedSection*', 'release'),
    # retire(): the deleters run without a grace period (O3).
    'rcu_retire_without_grace_period': (RCU, [('    share_grace_period();\n    // Oldest first',
                                               '    // Oldest first')],
                                        'rcu_test', 'RcuDomain.RetireRunsDeleterOnlyAfterPreexistingReadersLeave', 'release'),
    # in_read_section() forgets anonymous sections: waits from inside them wait
    # for themselves (the test hangs and is killed by the time limit).
    'rcu_anonymous_not_in_section': (RCU, [('return detail::rcu_tls.untracked != 0 || anonymous_entry(/*create=*/false) != nullptr;  // I9',
                                            'return false;')],
                                     'rcu_test', 'RcuDomain.AnonymousSectionsAreKnownAndWaitedFor', 'release'),
    # synchronize() inside the caller's own section is not detected.
    'rcu_no_self_wait_check': (RCU, [('''inline void rcu_domain::synchronize() noexcept {
  if (in_read_section()) {''', '''inline void rcu_domain::synchronize() noexcept {
  if (false) {''')],
                               'rcu_test', 'RcuDomain.WaitingInsideOwnReadSectionIsReportedNotADeadlock', 'release'),
    # ~rcu_domain runs one batch: deleters retired by deleters leak.
    'rcu_destructor_one_batch': (RCU, [('while (backlog() != 0 && checked_barrier()) {',
                                        'if (backlog() != 0 && checked_barrier()) {')],
                                 'rcu_test', 'RcuDomain.DestructorRunsDeletersRetiredByDeleters', 'release'),
    # The ignored 65536th read_lock() is not counted, so its unlock decrements.
    'rcu_overflow_unlock_decrements': (RCU, [('++record->overflow;  // I8: its unlock is ignored too', '')],
                                       'rcu_test', 'RcuDomain.NestingOverflowUnlockIsIgnoredToo', 'release'),
    # The fork child keeps the dead threads' records.
    'rcu_fork_keeps_dead_readers': (RCU, [('    domain->forget_dead_threads();\n', '')],
                                    'rcu_test', 'RcuDomain.ForkChild*', 'release'),
    # A record still inside a section at teardown is freed: the late unlock
    # touches freed memory (ASan).
    'rcu_teardown_frees_open_record': (RCU, [('globals.exited_inside.push_back(record);', 'delete record;')],
                                       'rcu_test', 'RcuDomain.SectionOutlivingTheThreadState*', 'asan'),
    # I14: the thread's default-domain record is used but never linked, so
    # grace periods do not see its sections.
    'rcu_resident_not_linked': (RCU, [('    readers_.push_back(record);\n    ++reader_count_;',
                                       '    if (!resident) readers_.push_back(record);\n    ++reader_count_;')],
                                'rcu_test', 'RcuDefaultRecord.SynchronizeWaits*', 'release'),
    # I14: teardown unlinks the record but leaves its depth at 0, so later
    # sections take the fast path on an unlinked record (not waited for).
    'rcu_resident_stays_open_after_teardown': (RCU, [('record->counter.store(rcu_nesting_mask, std::memory_order_relaxed);',
                                                      'record->counter.store(0, std::memory_order_relaxed);')],
                                               'rcu_test', 'RcuDefaultRecord.SectionsAfterTeardown*', 'release'),
    # I14/I10: the late unlock of a section the teardown ended is applied to
    # the torn-down record instead of reported.
    'rcu_resident_late_unlock_applied': (RCU, [('''  if ((counter & detail::rcu_nesting_mask) == 0 ||
      (record->thread_resident && record->domain == nullptr)) {''', '''  if ((counter & detail::rcu_nesting_mask) == 0) {''')],
                                         'rcu_test', 'RcuDefaultRecord.SectionOutliving*', 'release'),
    # I14: the fork child frees a dead thread's record that is not on the
    # heap (ASan: bad free).
    'rcu_fork_frees_resident_record': (RCU, [('if (!record->thread_resident) delete record;', 'delete record;')],
                                       'rcu_test', 'RcuDomain.ForkChild*', 'asan'),
    # rcu_reclaim::thread: retire() runs the deleters itself on a full
    # backlog (then a retire under the deleter's lock self-deadlocks).
    'rcu_reclaimer_thread_retire_runs_deleters': (RCU, [('''        reclaimer_wake_.notify_one();
      }
      return;''', '''        reclaimer_wake_.notify_one();
      }''')],
                                                  'rcu_test', 'RcuReclaimerThread.RetireNeverRunsDeletersOnTheCallersThread', 'release'),
    # --- hook.hpp ------------------------------------------------------------
    # A guard's outermost unlock does not wake a sleeping grace period (I13).
    'rcu_leave_no_wake': (RCU, [('    notify_grace_period(token.record, token.entered - 1);\n', '')],
                          'rcu_test', 'RcuDomain.WaitingWriterSleepsUntilTheReaderLeavesItsOutermostSection', 'release'),
    # Fallback mode polls again instead of flagging and sleeping (I13).
    'rcu_fallback_polls': (RCU, [('    if (round < detail::rcu_spin_rounds) {\n      lock.unlock();  // I3: never sleep holding the registry',
                                  '    if (!membarrier_ || round < detail::rcu_spin_rounds) {\n      lock.unlock();  // I3: never sleep holding the registry')],
                           'rcu_test', 'RcuDomain.FallbackWaitingWriterSleeps*', 'release'),
    # A thread exiting inside a section does not wake the grace period that sleeps for it (I13).
    'rcu_exit_no_wake': (RCU, [('            domain->wake_grace_period(record, 0);\n', '')],
                         'rcu_test', 'RcuDomain.WriterSleepingForAThreadThatExitsInsideItsSectionIsWoken', 'release'),
    # A grace period's end does not wake the callers sleeping on it (I12).
    'rcu_sharers_not_woken': (RCU, [('  if (gp_sharers_.load(std::memory_order_seq_cst) != 0) detail::futex_wake(gp_seq_);\n', '')],
                              'rcu_test', 'RcuDomain.CallersShareTheNextGracePeriodAndItWaitsForTheirReaders', 'release'),
    # A caller accepts the end of a grace period that started before it arrived (O5).
    'rcu_share_a_running_grace_period': (RCU, [('const std::uint32_t needed = (arrived + 3) & ~std::uint32_t{1};',
                                                'const std::uint32_t needed = (arrived + 2) & ~std::uint32_t{1};')],
                                         'rcu_test', 'RcuDomain.CallersShareTheNextGracePeriodAndItWaitsForTheirReaders', 'release'),
    # The heavy fence is skipped although another thread has a record (skip 1).
    'rcu_skip_fence_with_readers': (RCU, [('    if (!none && !only_ours) return true;', '    (void)only_ours;')],
                                    'rcu_test', 'RcuDomain.EveryGracePeriodIssuesTheHeavyFence*:RcuDomain.SynchronizeWaitsForPreexistingReader', 'release'),
    # The heavy fence is never skipped (skip 1 lost).
    'rcu_never_skip_fence': (RCU, [('    if (!none && !only_ours) return true;', '    if (none || !none || only_ours) return true;')],
                             'rcu_test', 'RcuDomain.GracePeriodsWithoutOtherReadersSkipTheHeavyFence', 'release'),
    # rcu_protect's replace (clear/exchange) returns without a grace period.
    'hook_rcu_replace_no_grace_period': (HOOK, [('if (previous != nullptr) domain_->synchronize();  // O3',
                                                 '(void)previous;')],
                                         'hook_test', '*HookPtrWaiting/1.ClearReturnsOnlyAfterTheCallInFlight', 'release'),
    # rcu_protect's replace from inside a read section is not refused.
    'hook_rcu_no_self_wait_check': (HOOK, [('if (domain_->in_read_section()) return {nullptr, report_inside_call()};',
                                            '')],
                                    'hook_test', '*HookPtrWaiting/1.ClearFromInsideTheCallIsReportedNotADeadlock', 'release'),
    # owner_ref calls a going module's hook (the pin's result is ignored).
    'hook_owner_ref_ignores_failed_pin': (HOOK, [('if (!try_module_get(owner)) return call_result{};',
                                                  'if (!try_module_get(owner)) module_get(owner);')],
                                          'hook_test', 'HookPtr.OwnerRefPinsTheOwnerDuringTheCallAndFailsOnceItIsGoing', 'release'),
    # hazard_protect: the EDEADLK check does not look at the outermost call's
    # slot (hook_top), so clear() from inside a call waits for itself.
    'hazptr_hook_top_not_checked': (HAZPTR, [('if (tls.hook_top != nullptr && tls.hook_top->value.load(std::memory_order_relaxed) == p) {',
                                              'if (false) {')],
                                    'hook_test', 'HookPtr.HazardCallsNestDeeply*', 'release'),
    # hazard_protect: a nested call takes hook_top although the outer call
    # holds it (overwriting, then resetting, the outer call's protection).
    'hazptr_hook_top_taken_in_use': (HAZPTR, [('if (top != nullptr && top->value.load(std::memory_order_relaxed) == nullptr) [[likely]] {',
                                               'if (top != nullptr) [[likely]] {')],
                                     'hook_test', 'HookPtr.HazardCallsNestDeeply*', 'release'),
    # --- module.hpp ----------------------------------------------------------
    # unload() from inside an owner_ref call waits for its own pin.
    'module_unload_waits_for_own_pin': (MODULE, [('if (detail::module_call_scope::inside_call_into(m)) {',
                                                  'if (false) {')],
                                        'hook_test', 'HookPtr.OwnerRefUnloadFromInsideTheCallIsRefused*', 'release'),
    # unload() does not wait for pins at all.
    'module_unload_does_not_wait': (MODULE, [('      pinned = block_pins(*m);  // O3: from here on every try_module_get fails\n      m->set_state(module_state::going);\n    }\n    if (pinned) wait_unpinned(*m);\n',
                                              '      pinned = block_pins(*m);  // O3: from here on every try_module_get fails\n      m->set_state(module_state::going);\n    }\n    (void)pinned;\n')],
                                    'hook_test', 'HookPtr.OwnerRefPinsTheOwnerDuringTheCallAndFailsOnceItIsGoing', 'release'),
    # --- ref.hpp -------------------------------------------------------------
    # The final put does not run the release function.
    'ref_final_put_no_release': (REF, [('if (refs_.dec_and_test(where)) release();',
                                        '(void)refs_.dec_and_test(where);')],
                                 'ref_test', 'Ref.MakeRefStartsWithOneReferenceAndDestructorReleases', 'release'),
    # A move copies the pointer and leaves the source holding it (two puts).
    'ref_move_keeps_source': (REF, [('ref(ref&& other) noexcept : object_(std::exchange(other.object_, nullptr)) {}',
                                     'ref(ref&& other) noexcept : object_(other.object_) {}')],
                              'ref_test', 'Ref.MovesLeaveTheSourceEmptyAndDoNotCount', 'release'),
    # get_safe takes a reference even on a dead count (I2).
    'ref_get_safe_plain_inc': (REF, [("  if (!detail::kref_access::count(*detail::kref_of(object)).inc_not_zero(where)) {\n    return ref<T>();\n  }",
                                      "  detail::kref_access::count(*detail::kref_of(object)).inc(where);")],
                               'ref_test', 'GetSafe.DyingObjectGivesEmptyNeverAReference', 'release'),
    # put_locked takes the mutex for every put, not only the last (I4).
    'ref_put_locked_always_locks': (REF, [('  if (count.dec_not_one(where)) return false;\n  return std::forward',
                                           '  return std::forward')],
                                    'ref_test', 'PutLocked.TakesTheMutexOnlyForTheLastPutAndReleasesUnderIt', 'asan'),
    # put_locked releases without re-deciding under the lock (O3): a getter
    # that found the object before the lock keeps a freed object.
    'ref_put_locked_no_recheck': (REF, [('    const bool last = count.dec_and_test(where);\n    if (last) kref_access::release(*counted);',
                                         '    const bool last = true;\n    (void)count.dec_if_one();\n    if (last) kref_access::release(*counted);')],
                                  'ref_test', 'PutLocked.AGetterThatFindsTheObjectBeforeTheLockKeepsItAlive', 'asan'),
    # put_locked's release runs after the mutex is unlocked (I4).
    'ref_put_locked_release_unlocked': (REF, [('            mutex.lock();\n            const bool last = body();\n            mutex.unlock();',
                                               '            mutex.lock();\n            mutex.unlock();\n            const bool last = body();')],
                                        'ref_test', 'PutLocked.TakesTheMutexOnlyForTheLastPutAndReleasesUnderIt', 'release'),
    # A failed dynamic_ref_cast empties its source (I1).
    'ref_dynamic_cast_failure_empties_source': (REF, [('    T* target = dynamic_cast<T*>(r.get());\n    if (target == nullptr) return ref<T>();\n    (void)r.release();',
                                                       '    T* target = dynamic_cast<T*>(r.release());\n    if (target == nullptr) return ref<T>();')],
                                                'ref_test', 'RefCast.DynamicRefCastSucceedsOrLeavesTheSourceHoldingItsReference', 'release'),
    # The address order compares a base and a derived pointer raw (I6).
    'ref_order_without_common_pointer': (REF, [('  return std::compare_three_way{}(static_cast<P>(a), static_cast<P>(b));',
                                                '  (void)sizeof(P);\n  return std::compare_three_way{}(a, b);')],
                                         'ref_test', 'RefCompare.DerivedAndBaseCompareAsTheSameObject', 'release'),
    # ref_hash hashes a ref unlike its pointer: lookup by T* misses (I6).
    'ref_hash_not_pointer_hash': (REF, [('  std::size_t operator()(const ref<T>& r) const noexcept { return (*this)(r.get()); }',
                                         '  std::size_t operator()(const ref<T>& r) const noexcept { return std::hash<const void*>{}(r.get()) ^ 1u; }')],
                                  'ref_test', 'RefHash.*', 'release'),
    # --- refcount.hpp ----------------------------------------------------------
    # dec_not_one also takes the last reference: put_locked never releases.
    'refcount_dec_not_one_takes_the_last': (REFCOUNT, [("      if (old == 0) return false;  // one reference: the caller's is the last\n", '')],
                                            'ref_test', 'PutLocked.TakesTheMutexOnlyForTheLastPutAndReleasesUnderIt', 'release'),
    # saturate_report: remove the store that parks the counter.
    'refcount_sat_store': (REFCOUNT, [('    stored_.store(saturated_stored, std::memory_order_relaxed);\n    detail::refcount_report_now(error, this, where);',
        '    detail::refcount_report_now(error, this, where);')],
        'refcount_test', 'Refcount/0.IncNotZeroAtTheLimitSaturatesAndSucceeds:Refcount/0.IncrementFromZeroIsReportedAndSaturates:Refcount/0.LargeStepsAreExact', 'release'),
    # saturate_report: remove the report.
    'refcount_sat_report': (REFCOUNT, [('    stored_.store(saturated_stored, std::memory_order_relaxed);\n    detail::refcount_report_now(error, this, where);',
        '    stored_.store(saturated_stored, std::memory_order_relaxed);\n    (void)error;\n    (void)where;')],
        'refcount_test', 'Refcount/0.IncNotZeroAtTheLimitSaturatesAndSucceeds:Refcount/0.IncrementFromZeroIsReportedAndSaturates:Refcount/0.LargeStepsAreExact', 'release'),
    # put_below_zero: saturate without the underflow report.
    'refcount_underflow_silent': (REFCOUNT, [('      saturate_report(refcount_error::underflow, where);\n    }\n  }',
        '      keep_saturated();\n      (void)where;\n    }\n  }')],
        'refcount_test', 'Refcount/0.SubBelowZeroFromLiveIsUnderflowAndNeverFrees:Refcount/0.UnderflowIsReportedAndSaturates:Refcount/1.SubBelowZeroFromLiveIsUnderflowAndNeverFrees', 'release'),
    # put_below_zero: report underflow but leave the value (the old park-at-zero).
    'refcount_underflow_no_saturate': (REFCOUNT, [('      saturate_report(refcount_error::underflow, where);\n    }\n  }',
        '      detail::refcount_report_now(refcount_error::underflow, this, where);\n    }\n  }')],
        'refcount_test', 'Refcount/0.UnderflowIsReportedAndSaturates:Refcount/1.UnderflowIsReportedAndSaturates', 'release'),
    # add_slow_common: saturate on overflow without the report.
    'refcount_overflow_silent': (REFCOUNT, [('        saturate_report(refcount_error::overflow, where);  // passed INT_MAX',
        '        keep_saturated();')],
        'refcount_test', 'Refcount/0.LiveRangeEndsAtIntMax:Refcount/0.OverflowSaturatesOnceAndStaysParked:Refcount/1.LiveRangeEndsAtIntMax', 'release'),
    # add_slow_common: saturate an increment of a dead counter without the report.
    'refcount_add_on_zero_silent': (REFCOUNT, [('        saturate_report(refcount_error::add_on_zero, where);\n        return;',
        '        keep_saturated();\n        return;')],
        'refcount_test', 'Refcount/0.IncrementFromZeroIsReportedAndSaturates:Refcount/1.IncrementFromZeroIsReportedAndSaturates:RefcountDeathTest.DefaultHandlerPrintsAndAbortsInEveryBuild', 'release'),
    # refcount::inc: the overflow test one too late (live to 2^31).
    'refcount_inc_limit': (REFCOUNT, [('    // One compare: old at the limit (count INT_MAX) or negative.\n    if (static_cast<std::uint32_t>(old) >= std::uint32_t{last_live}) [[unlikely]] {',
        '    // One compare: old at the limit (count INT_MAX) or negative.\n    if (static_cast<std::uint32_t>(old) > std::uint32_t{last_live}) [[unlikely]] {')],
        'refcount_test', 'Refcount/0.OverflowSaturatesOnceAndStaysParked:RefcountDeathTest.AbortHandlerPrintsEachKind', 'release'),
    # rcuref::inc: the overflow test one too late.
    'refcount_rcuref_inc_limit': (REFCOUNT, [('    // the count orders nothing (O1).\n    const std::int32_t old = stored_.fetch_add(1, std::memory_order_relaxed);\n    if (static_cast<std::uint32_t>(old) >= std::uint32_t{last_live}) [[unlikely]] {',
        '    // the count orders nothing (O1).\n    const std::int32_t old = stored_.fetch_add(1, std::memory_order_relaxed);\n    if (static_cast<std::uint32_t>(old) > std::uint32_t{last_live}) [[unlikely]] {')],
        'refcount_test', 'Refcount/1.OverflowSaturatesOnceAndStaysParked', 'release'),
    # refcount::add: the overflow bound at INT32_MAX instead of last_live.
    'refcount_add_limit': (REFCOUNT, [('    if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(last_live - step))\n        [[unlikely]] {\n      add_slow_common(old, where);\n    }\n  }\n\n  /// Takes a reference unless the count is 0',
        '    if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(INT32_MAX - step))\n        [[unlikely]] {\n      add_slow_common(old, where);\n    }\n  }\n\n  /// Takes a reference unless the count is 0')],
        'refcount_test', 'Refcount/0.LiveRangeEndsAtIntMax', 'release'),
    # refcount add_not_zero_impl: the overflow bound at INT32_MAX.
    'refcount_inz_limit': (REFCOUNT, [('      if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(last_live - step))',
        '      if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(INT32_MAX - step))')],
        'refcount_test', 'Refcount/0.IncNotZeroAtTheLimitSaturatesAndSucceeds:Refcount/0.LiveRangeEndsAtIntMax', 'release'),
    # rcuref::add: the overflow bound at INT32_MAX.
    'refcount_rcuref_add_limit': (REFCOUNT, [('    if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(last_live - step))\n        [[unlikely]] {\n      add_slow_common(old, where);\n    }\n  }\n\n  /// Takes a reference unless the object is dead',
        '    if (static_cast<std::uint32_t>(old) > static_cast<std::uint32_t>(INT32_MAX - step))\n        [[unlikely]] {\n      add_slow_common(old, where);\n    }\n  }\n\n  /// Takes a reference unless the object is dead')],
        'refcount_test', 'Refcount/1.LiveRangeEndsAtIntMax', 'release'),
    # rcuref::inc_not_zero: the fast-path bound one too high.
    'refcount_rcuref_inz_limit': (REFCOUNT, [('if (static_cast<std::uint32_t>(old) + 1u <= std::uint32_t{last_live}) [[likely]] return true;',
        'if (static_cast<std::uint32_t>(old) + 1u <= std::uint32_t{INT32_MAX}) [[likely]] return true;')],
        'refcount_test', 'Refcount/1.IncNotZeroAtTheLimitSaturatesAndSucceeds', 'release'),
    # rcuref::add_not_zero: the fast-path bound one too high.
    'refcount_rcuref_anz_limit': (REFCOUNT, [('static_cast<std::uint32_t>(last_live + 1 - step))',
        'static_cast<std::uint32_t>(last_live + 1 - step) + 1u)')],
        'refcount_test', 'Refcount/1.LiveRangeEndsAtIntMax', 'release'),
    # add_large: a dead counter is not left alone by add_not_zero.
    'refcount_large_not_zero': (REFCOUNT, [('          if (not_zero) return false;  // never written (I2)\n',
        '          (void)not_zero;\n')],
        'refcount_test', 'Refcount/0.LargeAddNotZeroOnDeadFailsAndWritesNothing:Refcount/1.LargeAddNotZeroOnDeadFailsAndWritesNothing', 'release'),
    # add_large: no overflow check.
    'refcount_large_overflow': (REFCOUNT, [('      if (n > static_cast<std::uint32_t>(last_live - old)) {',
        '      if (false) {')],
        'refcount_test', 'Refcount/0.LargeStepsAreExact:Refcount/1.LargeStepsAreExact', 'release'),
    # sub_large: the put of the whole count is not the final one.
    'refcount_large_exact_final': (REFCOUNT, [('      if (n == count) {',
        '      if (false) {')],
        'refcount_test', 'Refcount/0.LargeSubOfTheWholeCountIsTheFinalPut:Refcount/1.LargeSubOfTheWholeCountIsTheFinalPut', 'release'),
    # sub_large: no check of more than the count.
    'refcount_large_underflow': (REFCOUNT, [('      if (n > count) {',
        '      if (false) {')],
        'refcount_test', 'Refcount/0.LargeStepsAreExact:Refcount/1.LargeStepsAreExact', 'release'),
    # refcount put_slow: the final put returns false.
    'refcount_final_put': (REFCOUNT, [('    if (now == dead) return true;',
        '    if (now == dead) return false;')],
        'refcount_test', 'Refcount/0.AddAndSubAndTest:Refcount/0.ConcurrentGetPutThenFinalPutIsExactlyOnce:Refcount/0.IncAndDecAndTestCountExactly', 'release'),
    # refcount dec_slow: no dec_to_zero saturation.
    'refcount_dec_to_zero': (REFCOUNT, [('    if (now == dead) {\n      saturate_report(refcount_error::dec_to_zero, where);',
        '    if (now == dead) {\n      (void)0;')],
        'refcount_test', 'Refcount/0.PlainDecToZeroIsAReportedLeak:Refcount/0.ReportCarriesCounterAndCallSite:RefcountDeathTest.AbortHandlerPrintsEachKind', 'release'),
    # rcuref::dec: the slow path misses the last reference.
    'refcount_rcuref_dec_fast': (REFCOUNT, [('    if (old <= 0) [[unlikely]] dec_slow(old, where);',
        '    if (old < 0) [[unlikely]] dec_slow(old, where);')],
        'refcount_test', 'Refcount/1.PlainDecToZeroIsAReportedLeak:Refcount/1.ReportCarriesCounterAndCallSite', 'release'),
    # rcuref dec_slow: a put below zero is not handled.
    'refcount_rcuref_dec_underflow': (REFCOUNT, [('      put_below_zero(old, where);  // saturated, NOREF or dead',
        '      (void)0;')],
        'refcount_test', 'Refcount/1.UnderflowIsReportedAndSaturates', 'release'),
    # rcuref put_slow: NOREF is never killed.
    'refcount_rcuref_kill': (REFCOUNT, [('    if (old == step - 1) {',
        '    if (false && step) {')],
        'refcount_test', 'Refcount/1.AddAndSubAndTest:Refcount/1.ConcurrentGetPutThenFinalPutIsExactlyOnce:Refcount/1.IncAndDecAndTestCountExactly', 'release'),
    # encode: a count above max_count is not saturated.
    'refcount_encode_saturated': (REFCOUNT, [('    if (count > max_count) return saturated_stored;\n',
        '')],
        'refcount_test', 'Refcount/0.SetReinitialises:Refcount/1.SetReinitialises', 'release'),
    # dec_if_one: compares against two references.
    'refcount_dec_if_one_expected': (REFCOUNT, [('    std::int32_t expected = 0;  // stored 0: one reference',
        '    std::int32_t expected = 1;')],
        'refcount_test', 'Refcount/0.DecIfOneOnlyKillsTheLastReference:Refcount/1.DecIfOneOnlyKillsTheLastReference', 'release'),
    # keep_saturated: no re-park.
    'refcount_keep_saturated_store': (REFCOUNT, [('  void keep_saturated() noexcept {\n    // relaxed: parking the value; orders nothing.\n    stored_.store(saturated_stored, std::memory_order_relaxed);',
        '  void keep_saturated() noexcept {')],
        'refcount_test', 'Refcount/0.SaturatedStaysParkedUnderManyLargeSteps:Refcount/1.SaturatedStaysParkedUnderManyLargeSteps', 'release'),
    # rcuref get_slow: late getters do not move a dead counter back.
    'refcount_rcuref_park_dead': (REFCOUNT, [('        park_dead(wrapped(old, step));  // I2: a dead object stays dead',
        '        (void)wrapped(old, step);')],
        'refcount_test', 'Refcount/1.DeadStaysDeadUnderManyLargeGets', 'release'),
    # dec_not_one: a dead counter is not reported.
    'refcount_dec_not_one_dead': (REFCOUNT, [('          detail::refcount_report_now(refcount_error::underflow, this, where);\n          return true;  // nothing to release here',
        '          (void)where;\n          return true;  // nothing to release here')],
        'refcount_test', 'RefcountReports.DecNotOneDropsAllButTheLastReference', 'release'),
    # --- lockdep.hpp / ordered_mutex.hpp -------------------------------------
    # The common path does not push the acquisition on the held stack.
    'lockdep_held_stack_push_fast': (LOCKDEP, [('  slot.position = ++st.last_position;\n  st.size = n + 1;',
        '  slot.position = ++st.last_position;')],
        'locking_selftest_test', 'LockingSelftest.AA_mutex:LockingSelftest.ABBA_mutex', 'release'),
    # The checked (slow) path does not push the acquisition.
    'lockdep_held_stack_push_slow': (LOCKDEP, [('  st.entries[st.size++] = taking;',
        '  (void)taking;')],
        'locking_selftest_test', 'LockingSelftest.ABBCCA_mutex', 'release'),
    # The chain cache: a try_lock's chain stands for the same chain taken
    # with lock(), which then skips adding its dependency.
    'lockdep_chain_cache_ignores_trylock': (LOCKDEP, [('  const std::uint64_t key = (flags & entry_trylock) ? iterate_chain_key(chain, 0) : chain;',
        '  const std::uint64_t key = chain + 0 * flags;')],
        'lockdep_test', 'Lockdep.ChainCacheKeepsATryLockChainApartFromALockChain', 'release'),
    # The chain key forgets the order of the classes: b, a hits a, b's entry.
    'lockdep_chain_key_order_free': (LOCKDEP, [('  std::uint64_t x = key ^ ((std::uint64_t{cls} + 1) * 0x9e3779b97f4a7c15ull);\n  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;\n  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;\n  return x ^ (x >> 31);',
        '  return key + (std::uint64_t{cls} + 1) * 0x9e3779b97f4a7c15ull;')],
        'lockdep_test', 'Lockdep.ChainCacheStillReportsANewInversion', 'release'),
    # reset_for_testing keeps the chains validated with the edges it forgets.
    'lockdep_chain_cache_kept_by_reset': (LOCKDEP, [('  for (auto& slot : chain_cache) slot.store(0, std::memory_order_relaxed);  // relaxed: as above\n',
        '')],
        'lockdep_test', 'Lockdep.ChainCacheIsForgottenWithTheGraph', 'release'),
    # lock_all takes its batch in argument order.
    'lockdep_lock_all_no_sort': (ORDERED, [('      std::sort(locks.begin(), locks.end(), &detail::batch_before<First>);\n',
        '')],
        'locking_selftest_test', 'LockingSelftest.nested_lock_all_then_one_by_one', 'release'),
    # lock_all orders a nestable batch by address, not key (two orders for one level).
    'lockdep_lock_all_address_order_only': (ORDERED, [('    if (a->key() != b->key()) return a->key() < b->key();\n',
        '')],
        'locking_selftest_test', 'LockingSelftest.nested_lock_all_then_one_by_one', 'release'),
    # A new edge is recorded without looking for the opposite path (no circular report).
    'lockdep_no_inversion_check': (LOCKDEP, [('    if (path.empty()) {',
        '    if (true) {')],
        'locking_selftest_test', 'LockingSelftest.ABBA_mutex', 'release'),
    # A successful try_lock is checked and ordered like a blocking lock.
    'lockdep_trylock_adds_edges': (LOCKDEP, [('    if (taking.flags & entry_trylock) continue;\n',
        '')],
        'locking_selftest_test', 'LockingSelftest.ww_test_try_try:LockingSelftest.ww_test_block_try:LockingSelftest.ww_test_spin_try', 'release'),
    # Nestable instances are not checked for ascending keys.
    'lockdep_no_nest_order': (LOCKDEP, [('      if (taking.key < h.key || (taking.key == h.key && !one_batch)) {',
        '      if (false) {')],
        'locking_selftest_test', 'LockingSelftest.nested_subclass_descending', 'release'),
    # Destroying a held mutex is not reported.
    'lockdep_no_held_lock_freed': (ORDERED, [('    if constexpr (Validator::enabled) lockdep::detail::on_destroy(this);\n',
        '')],
        'locking_selftest_test', 'LockingSelftest.init_held_mutex', 'release'),
    # A self-deadlock through a stale context is titled a stale context.
    'lockdep_stale_before_recursion': (LOCKDEP, [('  bool recursive = false;\n',
        '  if (!current) report_stale(st, taking, ctx_position);\n  bool recursive = false;\n')],
        'locking_selftest_test', 'LockingSelftest.AA_through_stale_context', 'release'),
    # A stale context is not reported.
    'lockdep_no_stale_check': (LOCKDEP, [('  if (!recursive && !current) report_stale(st, taking, ctx_position);',
        '  (void)current;')],
        'locking_selftest_test', 'LockingSelftest.ww_test_object_lock_stale_context', 'release'),
    # guard.unlock() leaves its entry on the held stack.
    'lockdep_early_release_keeps_entry': (LOCKDEP, [('    if (st.entries[i].lock == lock) {\n      remove_entry(st, i);\n      return;',
        '    if (st.entries[i].lock == lock) {\n      return;')],
        'lockdep_test', 'Lockdep.EarlyReleaseOfAnOuterGuardIsNotOutOfOrder', 'release'),
    # A guard ending out of order is taken for the innermost.
    'lockdep_release_any_order': (LOCKDEP, [('  if (st.size > 0 && st.entries[st.size - 1].lock == lock) [[likely]] {',
        '  if (st.size > 0) [[likely]] {')],
        'locking_selftest_test', 'LockingSelftest.bad_unlock_order_mutex', 'release'),
    # condition_variable waits without the validator's wait check.
    'lockdep_cv_no_wait_check': (ORDERED, [('      lockdep::detail::on_wait(&g.mutex(), detail::type_name_v<typename OM::level_type>,\n                               g.lockdep_position(), traits::outer_allowed, where);',
        '      (void)where;')],
        'lockdep_test', 'Lockdep.ConditionVariableWaitWithAHiddenLockIsReported', 'release'),
    # A second lock of a non-nestable level is not reported.
    'lockdep_no_same_level': (LOCKDEP, [('        dispatch(report_kind::same_level, "second lock of a non-nestable level", std::move(body),\n                 site_of(taking), site_of(h));',
        '        (void)body;')],
        'locking_selftest_test', 'LockingSelftest.AA_mutex:LockingSelftest.ww_test_block_block', 'release'),
    # A second unlock() of a guard is not reported.
    'lockdep_double_unlock_silent': (ORDERED, [('        if (word_ != 0) {\n          lockdep::detail::on_double_unlock(',
        '        if (false) {\n          lockdep::detail::on_double_unlock(')],
        'locking_selftest_test', 'LockingSelftest.double_unlock_mutex', 'release'),
}


def run(cmd, cwd, limit=None, env=None):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=limit, env=env)
    except subprocess.TimeoutExpired:
        return None


def prepare(preset, env):
    tree = os.path.join(SCRATCH, preset)
    if os.path.isdir(tree):
        shutil.rmtree(tree)
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns('build', '.git'))
    configured = run(['cmake', '--preset', preset, '-Wno-dev'], tree, env=env)
    if configured.returncode != 0:
        sys.exit('cmake --preset %s failed in %s:\n%s' % (preset, tree, configured.stderr))
    return tree


def main(argv):
    if any(a in ('-h', '--help') for a in argv):
        print(__doc__)
        return 0
    unknown = [a for a in argv if a.startswith('-') and a not in ('--list', '--keep')]
    if unknown:
        print(f"primitives.py: unknown option {unknown[0]} (see --help)", file=sys.stderr)
        return 2
    keep = '--keep' in argv
    names = [a for a in argv if not a.startswith('--')]
    if '--list' in argv:
        # Also checks every row's patterns against the working tree's headers.
        missing = 0
        for name, (header, edits, target, filt, preset) in MUTANTS.items():
            text = open(os.path.join(ROOT, header)).read()
            found = all(text.count(old) == 1 for old, _ in edits)
            missing += not found
            print('%-36s %-42s %-18s %-8s %s%s' % (name, header, target, preset, filt,
                                                 '' if found else '  PATTERN NOT FOUND'))
        print('\n%d mutants, %d with a pattern not found exactly once' % (len(MUTANTS), missing))
        return 1 if missing else 0
    chosen = [n for n in MUTANTS if not names or any(n == a or n.startswith(a) for a in names)]
    env = dict(os.environ)
    env.setdefault('CCACHE_BASEDIR', os.path.dirname(ROOT))
    trees = {}
    results = {}
    for name in chosen:
        header, edits, target, filt, preset = MUTANTS[name]
        if preset not in trees:
            trees[preset] = prepare(preset, env)
        tree = trees[preset]
        path = os.path.join(tree, header)
        original = open(path).read()
        mutated = original
        missing = [old for old, _ in edits if mutated.count(old) != 1]
        if missing:
            results[name] = 'PATTERN NOT FOUND'
            print('%-36s PATTERN NOT FOUND: %r' % (name, missing[0][:70]), flush=True)
            continue
        for old, new in edits:
            mutated = mutated.replace(old, new)
        started = time.time()
        try:
            open(path, 'w').write(mutated)
            built = run(['cmake', '--build', '--preset', preset, '--target', target,
                         '-j' + os.environ.get('ORDO_MUTANT_JOBS', '2')], tree, env=env)
            if built is None or built.returncode != 0:
                verdict = 'BROKEN (does not build)'
            else:
                exe = os.path.join(tree, 'build', preset, 'tests', target)
                ran = run([exe, '--gtest_filter=' + filt], tree, limit=TIME_LIMIT, env=env)
                if ran is None:
                    verdict = 'KILLED (hang past %d s)' % TIME_LIMIT
                elif ran.returncode != 0:
                    verdict = 'KILLED'
                elif int((re.search(r'\[==========\] (\d+) tests? from', ran.stdout) or [0, 0])[1]) > 0:
                    verdict = 'SURVIVED'
                else:
                    verdict = 'BROKEN (filter matches no test)'
        finally:
            open(path, 'w').write(original)
        results[name] = verdict
        print('%-36s %-26s %4.0f s  %s' % (name, verdict, time.time() - started, filt), flush=True)
    killed = sum(1 for v in results.values() if v.startswith('KILLED'))
    print('\n%d of %d mutants killed' % (killed, len(results)))
    if not keep:
        for tree in trees.values():
            shutil.rmtree(tree, ignore_errors=True)
    return 0 if killed == len(results) else 1


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
