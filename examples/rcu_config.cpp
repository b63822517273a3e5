// A configuration object read on every request by several worker threads
// and replaced now and then by an admin thread, written in the style of the
// C++26 <rcu> interface ([saferecl.rcu]): the config derives from
// rcu_obj_base, readers open a region with std::scoped_lock on the default
// domain, the admin publishes a new config and retires the old one.
//
// Why RCU: the workers read the config millions of times a second and never
// wait (a region costs a load and a store to the thread's own line), the
// admin never blocks them, and an old config is freed only after every
// request that could still see it has finished. Compare a std::shared_mutex
// (every request writes the lock's shared line) or a std::shared_ptr swap
// (every request increments and decrements one shared count).
//
// Each request checks that the config it sees is internally consistent
// (limit == 10 * version) and alive; the program fails if any request ever
// sees a torn or freed config.
#include <ordo/rcu.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

struct config : ordo::rcu_obj_base<config> {
  int version;
  int limit;
  std::string banner;
  bool alive = true;
  config(int v, std::string b) : version(v), limit(10 * v), banner(std::move(b)) {}
  ~config() { alive = false; }
};

std::atomic<config*> current_config{nullptr};
std::atomic<long> bad_requests{0};

// One request: reads the config inside a region, never past it.
int handle_request(int payload) {
  std::scoped_lock region(ordo::rcu_default_domain());
  const config* c = current_config.load(std::memory_order_acquire);
  if (!c->alive || c->limit != 10 * c->version || c->banner.empty()) {
    bad_requests.fetch_add(1, std::memory_order_relaxed);
  }
  return payload < c->limit ? payload : c->limit;
}

// The admin: publish the new config, retire the old one. retire() never
// waits for the readers; the old config is deleted after a grace period.
void replace_config(int version) {
  auto* next = new config(version, "config v" + std::to_string(version));
  config* old = current_config.exchange(next, std::memory_order_acq_rel);
  old->retire();
}

}  // namespace

int main() {
  current_config.store(new config(1, "config v1"), std::memory_order_release);
  std::atomic<bool> stop{false};
  std::atomic<long> requests{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 3; ++w) {
    workers.emplace_back([&, w] {
      long served = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        (void)handle_request(w + static_cast<int>(served % 100));
        ++served;
      }
      requests.fetch_add(served, std::memory_order_relaxed);
    });
  }
  std::thread admin([] {
    for (int version = 2; version <= 200; ++version) {
      replace_config(version);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
  });
  admin.join();
  stop = true;
  for (auto& t : workers) t.join();

  // Shutdown: nobody reads any more; retire the last config and wait until
  // every scheduled deletion has run.
  current_config.exchange(nullptr)->retire();
  ordo::rcu_barrier();

  std::printf("%ld requests over 199 config replacements, %ld bad\n", requests.load(),
              bad_requests.load());
  return bad_requests.load() == 0 && requests.load() > 0 ? 0 : 1;
}
