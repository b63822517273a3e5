// Replays checked-in inputs through a libFuzzer target built without
// libFuzzer: each argument is a file or a directory of files (a missing
// directory is skipped), each file goes once to LLVMFuzzerTestOneInput, in
// name order. A target aborts on a broken property, so a regression fails
// the test; a replay that found no input at all fails too (it could not
// fail otherwise). Used by cmake/OrdoFuzzReplay.cmake, one CTest test per
// target, in the asan preset.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

void replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  // An exactly sized heap copy, so ASan sees any read past the input's end.
  std::vector<std::uint8_t> data(bytes.begin(), bytes.end());
  std::printf("replay %s (%zu bytes)\n", file.c_str(), data.size());
  std::fflush(stdout);
  (void)LLVMFuzzerTestOneInput(data.empty() ? nullptr : data.data(), data.size());
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t inputs = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code ec;
    if (std::filesystem::is_directory(arg, ec)) {
      std::vector<std::filesystem::path> files;
      for (const auto& entry : std::filesystem::directory_iterator(arg)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& file : files) replay(file);
      inputs += files.size();
    } else if (std::filesystem::is_regular_file(arg, ec)) {
      replay(arg);
      ++inputs;
    }
  }
  if (inputs == 0) {
    std::fprintf(stderr, "fuzz replay: no input found in the arguments\n");
    return 1;
  }
  std::printf("fuzz replay: %zu inputs, no property broken\n", inputs);
  return 0;
}
