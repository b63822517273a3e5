#include "widget.hpp"

int main() {
  counter c;
  return locked_increment(c) == 1 ? 0 : 1;
}
