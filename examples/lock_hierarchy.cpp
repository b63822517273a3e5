// examples/lock_hierarchy.cpp — a cache with a table lock above per-bucket
// locks and a refill thread, the lock order checked at compile time.
//
// The cache maps keys to values that a slow loader produces. A lookup takes
// only its key's bucket lock; a miss marks the entry "loading", queues the
// key for the refill thread (the queue lock is below the bucket lock) and
// waits, with the bucket lock dropped, until the refill thread has filled
// the entry. flush() takes the table lock, then each bucket in turn, and
// drops every loaded value. Values are ordo::ref<const cached_value>: a
// reader keeps the value it got even if a flush drops the cache's own
// reference meanwhile.
//
//   table_level ─▶ bucket_level ─▶ refill_level
//
// Written the other way round, the code does not compile: taking the table
// lock while a bucket is held (`table_.lock(bucket_guard)`) is "ordo: lock
// order violation: ...", and so is waiting for the refill with the table
// lock held above the bucket (a wait drops only the innermost lock).
//
// The waits are ordo::condition_variable waits on a guard: the bucket and
// queue locks are std::mutex underneath (the table lock is absl::Mutex), the
// wait drops only the guard's own lock, and waiting on a guard that holds an
// outer level does not compile either (ordo::relockable names it on purpose).
#include <array>
#include <atomic>
#include <mutex>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ordo/ordered_mutex.hpp"
#include "ordo/ref.hpp"

namespace {

struct table_level : ordo::level<> {};
struct bucket_level : ordo::level<table_level> {};
struct refill_level : ordo::level<bucket_level> {};

// The order is a compile-time fact, and so is its absence the other way.
static_assert(ordo::lock_before_v<table_level, bucket_level>);
static_assert(ordo::lock_before_v<table_level, refill_level>);  // transitive
static_assert(!ordo::lock_before_v<bucket_level, table_level>);

struct cached_value : ordo::kref<cached_value> {
  cached_value(int k, std::string t) : key(k), text(std::move(t)) {}
  int key;
  std::string text;
};

// The slow source the refill thread reads.
std::string load_from_source(int key) { return "value-" + std::to_string(key); }

class cache {
 public:
  static constexpr std::size_t bucket_count = 4;

  // The value for `key`: from the cache, or after the refill thread loaded
  // it. ctx: the caller holds no lock of this cache.
  ordo::ref<const cached_value> get(ordo::unlocked& ctx, int key) {
    auto bucket = bucket_of(key).lock(ctx);
    for (;;) {
      auto it = bucket->entries.find(key);
      if (it != bucket->entries.end() && it->second) return it->second.clone();
      if (it == bucket->entries.end()) {  // a miss: mark it loading, queue it
        bucket->entries.emplace(key, nullptr);
        auto queue = refill_.lock(bucket);  // bucket ─▶ refill: in order
        queue->keys.push_back(key);
        ++bucket->misses;
        queued_.notify_one();
      }
      // Drops only the bucket lock while waiting (the guard holds nothing
      // else), until the entry is loaded, or gone again (a flush dropped
      // it after the refill: then it is missed anew).
      refilled_.wait(bucket.lock_guard(), [&] {
        auto found = bucket->entries.find(key);
        return found == bucket->entries.end() || static_cast<bool>(found->second);
      });
    }
  }

  // Drops every loaded value. Takes the table lock (one flush at a time),
  // then each bucket under it: table ─▶ bucket.
  std::size_t flush(ordo::unlocked& ctx) {
    auto table = table_.lock(ctx);
    std::size_t dropped = 0;
    for (auto& b : buckets_) {
      auto bucket = b.lock(table);
      for (auto it = bucket->entries.begin(); it != bucket->entries.end();) {
        if (it->second) {  // loaded; a loading entry has waiters: keep it
          it = bucket->entries.erase(it);
          ++dropped;
        } else {
          ++it;
        }
      }
    }
    ++table->flushes;
    return dropped;
  }

  // The refill thread: pops queued keys, loads them with no lock held, and
  // fills the entries (the waiting readers' conditions become true).
  void refill_loop() {
    ordo::unlocked ctx;
    for (;;) {
      int key = 0;
      {
        auto queue = refill_.lock(ctx);
        queued_.wait(queue.lock_guard(), [&] { return queue->stopping || !queue->keys.empty(); });
        if (queue->keys.empty()) return;  // stopping, and nothing left to load
        key = queue->keys.front();
        queue->keys.pop_front();
      }
      auto value = ordo::make_ref<const cached_value>(key, load_from_source(key));
      auto bucket = bucket_of(key).lock(ctx);
      bucket->entries.at(key) = std::move(value);
      refilled_.notify_all();  // the readers of every bucket share it
    }
  }

  void stop_refill(ordo::unlocked& ctx) {
    auto queue = refill_.lock(ctx);
    queue->stopping = true;
    queued_.notify_all();
  }

  int misses(ordo::unlocked& ctx) {
    auto table = table_.lock(ctx);
    int total = 0;
    for (auto& b : buckets_) total += b.lock(table)->misses;
    return total;
  }

 private:
  struct table_state {
    int flushes = 0;
  };
  struct bucket_state {
    // Empty ref: the entry is loading.
    std::map<int, ordo::ref<const cached_value>> entries;
    int misses = 0;
  };
  struct refill_queue {
    std::deque<int> keys;
    bool stopping = false;
  };
  using bucket = ordo::guarded<bucket_state, ordo::ordered_mutex<bucket_level, std::mutex>>;

  bucket& bucket_of(int key) { return buckets_[static_cast<std::size_t>(key) % bucket_count]; }

  ordo::guarded<table_state, ordo::ordered_mutex<table_level>> table_;
  std::array<bucket, bucket_count> buckets_;
  ordo::guarded<refill_queue, ordo::ordered_mutex<refill_level, std::mutex>> refill_;
  ordo::condition_variable queued_;    // refill_queue gained a key, or stopping
  ordo::condition_variable refilled_;  // an entry was loaded
};

}  // namespace

int main() {
  constexpr int keys = 16;
  constexpr int readers = 3;
  constexpr int rounds = 40;
  cache c;
  std::thread refill([&c] { c.refill_loop(); });

  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&c, &wrong, r] {
      ordo::unlocked ctx;
      for (int round = 0; round < rounds; ++round) {
        const int key = (round * 7 + r) % keys;
        ordo::ref<const cached_value> v = c.get(ctx, key);
        if (!v || v->key != key || v->text != load_from_source(key)) wrong.fetch_add(1);
      }
    });
  }
  std::size_t dropped = 0;
  std::thread flusher([&c, &dropped] {
    ordo::unlocked ctx;
    for (int i = 0; i < 5; ++i) {
      dropped += c.flush(ctx);
      std::this_thread::yield();
    }
  });
  for (auto& t : threads) t.join();
  flusher.join();

  ordo::unlocked ctx;
  c.stop_refill(ctx);
  refill.join();

  const int misses = c.misses(ctx);
  std::printf("lock_hierarchy: %d lookups, %d misses refilled, %zu values flushed, %d wrong\n",
              readers * rounds, misses, dropped, wrong.load());
  // Every key was missed at least once; nothing was read wrong.
  return wrong.load() == 0 && misses >= keys ? 0 : 1;
}
