#include "widget.hpp"

int locked_increment(counter& c) {
  ordo::unlocked ctx;
  auto g = c.lock.lock(ctx);
  return ++c.value;
}
