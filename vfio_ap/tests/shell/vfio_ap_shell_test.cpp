// How vfio-ap-sim splits a line into words (sim/shell.hpp, "Language"):
// blanks, quotes, escapes, variable expansion, the `>` operator and the
// expansion bound. Each case runs through the shell's public interface:
// `echo WORDS` without a redirection prints the words joined by one space,
// so the output shows exactly which words the tokenizer made.
#include <gtest/gtest.h>

#include <initializer_list>
#include <sstream>
#include <string>
#include <string_view>

#include "shell.hpp"

namespace {

using ordo::vfio_ap::sim::kMaxLine;
using ordo::vfio_ap::sim::shell;

// What one shell printed on standard output and on standard error.
struct transcript {
  std::string out;
  std::string err;
};

transcript run(std::initializer_list<std::string_view> lines) {
  std::ostringstream out;
  std::ostringstream err;
  shell sh(out, err);
  for (const auto line : lines) sh.run_line(line);
  return {out.str(), err.str()};
}

// The words `echo` is given, as echo prints them.
std::string echoed(std::string_view words) {
  const auto t = run({"echo " + std::string(words)});
  EXPECT_EQ(t.err, "") << words;
  return t.out;
}

TEST(ShellSplit, BlanksSeparateWordsAndRunsOfThemCollapse) {
  EXPECT_EQ(echoed("a b"), "a b\n");
  EXPECT_EQ(echoed("a  \t b"), "a b\n");
  EXPECT_EQ(echoed("a\tb"), "a b\n");
}

TEST(ShellSplit, TrailingBlanksMakeNoWord) {
  EXPECT_EQ(echoed("a b   "), "a b\n");
  EXPECT_EQ(echoed("a\t"), "a\n");
  const auto t = run({"echo  \t "});
  EXPECT_EQ(t.out, "\n");
  EXPECT_EQ(t.err, "");
}

TEST(ShellSplit, LeadingBlanksAreSkippedBeforeTheCommand) {
  const auto t = run({" \t echo x"});
  EXPECT_EQ(t.out, "x\n");
  EXPECT_EQ(t.err, "");
}

TEST(ShellSplit, SingleQuotesKeepEverythingLiterally) {
  EXPECT_EQ(echoed("'a  b'"), "a  b\n");
  EXPECT_EQ(echoed("'$X \\\" \\\\ >'"), "$X \\\" \\\\ >\n");
}

TEST(ShellSplit, EmptyQuotesAreAnEmptyWord) {
  EXPECT_EQ(echoed("'' x"), " x\n");
  EXPECT_EQ(echoed("x \"\""), "x \n");
  EXPECT_EQ(echoed("'' '' ''"), "  \n");
}

TEST(ShellSplit, DoubleQuotesKeepBlanksAndExpandVariables) {
  const auto t = run({"X=v", "echo \"a  $X ${X}b\""});
  EXPECT_EQ(t.out, "a  v vb\n");
  EXPECT_EQ(t.err, "");
}

TEST(ShellSplit, DoubleQuotesEscapeOnlyQuoteBackslashAndDollar) {
  EXPECT_EQ(echoed(R"("\" \\ \$X")"), "\" \\ $X\n");
  // Any other backslash is kept with the character after it.
  EXPECT_EQ(echoed(R"("\n \a \ ")"), "\\n \\a \\ \n");
  // A backslash just before the closing quote is kept; the quote closes.
  EXPECT_EQ(echoed(R"("a\\" b)"), "a\\ b\n");
}

TEST(ShellSplit, BackslashOutsideQuotesTakesTheNextCharacterLiterally) {
  EXPECT_EQ(echoed(R"(a\ b)"), "a b\n");
  EXPECT_EQ(echoed(R"(\$X \' \" \\ \n)"), "$X ' \" \\ n\n");
  EXPECT_EQ(echoed(R"(a\>b)"), "a>b\n");
}

TEST(ShellSplit, ATrailingBackslashIsLiteral) {
  EXPECT_EQ(echoed(R"(a\)"), "a\\\n");
  EXPECT_EQ(echoed(R"(\)"), "\\\n");
}

TEST(ShellSplit, QuotedAndUnquotedPartsJoinIntoOneWord) {
  const auto t = run({"X=v", R"(echo a'b c'"d $X"e\ f$X)"});
  EXPECT_EQ(t.out, "ab cd ve fv\n");
  EXPECT_EQ(t.err, "");
}

TEST(ShellSplit, AVariableIsNeverSplitIntoWords) {
  const auto t = run({"X='a  b'", "echo $X", "echo ${X}c"});
  EXPECT_EQ(t.out, "a  b\na  bc\n");
  EXPECT_EQ(t.err, "");
}

TEST(ShellSplit, AnEmptyVariableStillMakesAWord) {
  const auto t = run({"E=", "echo $E x", "echo x $E", "$E"});
  EXPECT_EQ(t.out, " x\nx \n");
  EXPECT_EQ(t.err, "sim: line 4: unknown command: \n");
}

TEST(ShellSplit, ADollarNotFollowedByANameIsLiteral) {
  EXPECT_EQ(echoed("$ a$ $1 $- \"$\" \"$1\""), "$ a$ $1 $- $ $1\n");
}

TEST(ShellSplit, ANameEndsAtTheFirstNonNameCharacter) {
  const auto t = run({"A_1=v", "echo $A_1.x $A_1-y \"$A_1/z\""});
  EXPECT_EQ(t.out, "v.x v-y v/z\n");
  EXPECT_EQ(t.err, "");
}

TEST(ShellSplit, BadExpansionsAreScriptErrors) {
  EXPECT_EQ(run({"echo $NOPE"}).err, "sim: line 1: undefined variable NOPE\n");
  EXPECT_EQ(run({"echo \"$NOPE\""}).err, "sim: line 1: undefined variable NOPE\n");
  EXPECT_EQ(run({"echo ${NOPE}"}).err, "sim: line 1: undefined variable NOPE\n");
  EXPECT_EQ(run({"echo ${X"}).err, "sim: line 1: unterminated ${\n");
  EXPECT_EQ(run({"echo ${}"}).err, "sim: line 1: bad variable name in ${...}\n");
  EXPECT_EQ(run({"echo ${1}"}).err, "sim: line 1: bad variable name in ${...}\n");
  EXPECT_EQ(run({"echo ${a b}"}).err, "sim: line 1: bad variable name in ${...}\n");
  // Nothing is printed for a line that failed to split.
  EXPECT_EQ(run({"echo a $NOPE"}).out, "");
}

TEST(ShellSplit, UnterminatedQuotesAreScriptErrors) {
  EXPECT_EQ(run({"echo 'a"}).err, "sim: line 1: unterminated '\n");
  EXPECT_EQ(run({"echo \"a"}).err, "sim: line 1: unterminated \"\n");
  EXPECT_EQ(run({"echo \"a\\\""}).err, "sim: line 1: unterminated \"\n");
  EXPECT_EQ(run({"echo \"a\\"}).err, "sim: line 1: unterminated \"\n");
  EXPECT_EQ(run({"echo 'a"}).out, "");
}

TEST(ShellSplit, UnquotedGreaterThanIsARedirectionEvenWithoutBlanks) {
  // Redirected output goes to the attribute, not to standard output: a
  // successful write prints nothing.
  const auto t = run({"echo -n 0>/sys/bus/ap/apmask", "cat /sys/bus/ap/apmask"});
  EXPECT_EQ(t.err, "");
  EXPECT_EQ(t.out, "0x" + std::string(64, '0') + "\n");
}

TEST(ShellSplit, DoubleGreaterThanIsOneRedirection) {
  const auto t = run({"echo -n 0>>/sys/bus/ap/apmask", "cat /sys/bus/ap/apmask"});
  EXPECT_EQ(t.err, "");
  EXPECT_EQ(t.out, "0x" + std::string(64, '0') + "\n");
}

TEST(ShellSplit, ThreeGreaterThanAreTwoRedirections) {
  EXPECT_EQ(run({"echo a >>> /sys/bus/ap/apmask"}).err,
            "sim: line 1: usage: echo [-n] VALUE > PATH\n");
  EXPECT_EQ(run({"echo a > > /sys/bus/ap/apmask"}).err,
            "sim: line 1: usage: echo [-n] VALUE > PATH\n");
}

TEST(ShellSplit, QuotedGreaterThanIsAWord) {
  EXPECT_EQ(echoed("'>' \">>\" a\\>"), "> >> a>\n");
}

TEST(ShellSplit, AGreaterThanFirstIsNotACommand) {
  EXPECT_EQ(run({">x"}).err, "sim: line 1: missing command before >\n");
  EXPECT_EQ(run({"cat x>y"}).err, "sim: line 1: only echo can redirect its output\n");
}

TEST(ShellSplit, AnAssignmentTakesExactlyOneWord) {
  const auto t = run({"A=", "B=\"x  y\"", "C=a'b'\\ c", "echo [$A] [$B] [$C]"});
  EXPECT_EQ(t.out, "[] [x  y] [ab c]\n");
  EXPECT_EQ(t.err, "");
  EXPECT_EQ(run({"A=a b"}).err, "sim: line 1: an assignment takes one word (quote spaces)\n");
  EXPECT_EQ(run({"A=>"}).err, "sim: line 1: an assignment takes one word (quote spaces)\n");
  EXPECT_EQ(run({"A=a>b"}).err, "sim: line 1: an assignment takes one word (quote spaces)\n");
  // Blanks after `=` make no word: the value is empty.
  EXPECT_EQ(run({"A=   ", "echo [$A]"}).out, "[]\n");
  EXPECT_EQ(run({"A='x", "echo"}).err, "sim: line 1: unterminated '\n");
}

TEST(ShellSplit, AWordLongerThanTheLineBoundIsAScriptError) {
  const std::string half(kMaxLine / 2 + 1, 'x');
  const std::string expected =
      "sim: line 3: expanded line longer than " + std::to_string(kMaxLine) + " bytes\n";
  const auto one_word = run({"H=" + half, "echo -n ok", "echo $H$H"});
  EXPECT_EQ(one_word.out, "ok");
  EXPECT_EQ(one_word.err, expected);
  const auto quoted = run({"H=" + half, "echo -n ok", "echo \"$H$H\""});
  EXPECT_EQ(quoted.err, expected);
}

TEST(ShellSplit, WordsLongerThanTheLineBoundTogetherAreAScriptError) {
  const std::string half(kMaxLine / 2 + 1, 'x');
  const auto t = run({"H=" + half, "echo -n ok", "echo $H $H"});
  EXPECT_EQ(t.out, "ok");
  EXPECT_EQ(t.err, "sim: line 3: expanded line longer than " + std::to_string(kMaxLine) +
                       " bytes\n");
}

TEST(ShellSplit, WordsUpToTheLineBoundTogetherAreKept) {
  // The bound counts every word, the command's own included: "echo" and two
  // words of (kMaxLine - 4) / 2 bytes are exactly kMaxLine; one byte more is not.
  const std::string word((kMaxLine - 4) / 2, 'x');
  const auto t = run({"W=" + word, "echo $W $W"});
  EXPECT_EQ(t.err, "");
  EXPECT_EQ(t.out, word + " " + word + "\n");
  EXPECT_EQ(run({"W=" + word, "echo $W $W x"}).err,
            "sim: line 2: expanded line longer than " + std::to_string(kMaxLine) + " bytes\n");
}

// feed(): a line is the bytes up to its newline however the chunks cut it;
// the last line needs no newline (end_of_input runs it).
transcript fed(std::initializer_list<std::string_view> chunks) {
  std::ostringstream out;
  std::ostringstream err;
  shell sh(out, err);
  for (const auto chunk : chunks) sh.feed(chunk);
  sh.end_of_input();
  return {out.str(), err.str()};
}

TEST(ShellFeed, ALineCutAcrossChunksRunsOnceWhole) {
  const auto t = fed({"echo a", "b", "c\necho d\nec", "ho e\n", "", "echo f"});
  EXPECT_EQ(t.out, "abc\nd\ne\nf\n");
  EXPECT_EQ(t.err, "");
  // A newline alone ends the line a chunk began, even an empty one.
  EXPECT_EQ(fed({"echo x", "\n", "\n", "echo y\n"}).out, "x\ny\n");
}

TEST(ShellFeed, ALineLongerThanTheBoundIsRejectedWholeOrInPieces) {
  const std::string bound = "sim: line 1: line longer than " + std::to_string(kMaxLine) + " bytes\n";
  // "echo " and kMaxLine - 5 bytes: exactly the bound, kept.
  const std::string fits = "echo " + std::string(kMaxLine - 5, 'x');
  EXPECT_EQ(fed({fits + "\necho -n ok"}).out, fits.substr(5) + "\nok");
  EXPECT_EQ(fed({fits.substr(0, 100), fits.substr(100) + "\n"}).err, "");
  // One byte more: the line is consumed and rejected, the next one runs.
  const std::string over = fits + "y";
  for (const auto& t : {fed({over + "\necho -n ok"}), fed({over.substr(0, 7), over.substr(7), "\necho -n ok"}),
                        fed({fits, "y\necho -n ok"})}) {
    EXPECT_EQ(t.out, "ok");
    EXPECT_EQ(t.err, bound);
  }
  // A last line without newline is bounded too.
  EXPECT_EQ(fed({over}).err, bound);
}

TEST(ShellPaths, DotsEmptyComponentsAndRelativePathsNameTheSameAttribute) {
  const auto canonical = run({"cat /sys/bus/ap/apmask"});
  ASSERT_EQ(canonical.err, "");
  for (const auto* path : {"/sys//bus/ap/apmask", "/sys/./bus/ap/apmask", "/sys/bus/x/../ap/apmask",
                           "/../sys/bus/ap/apmask", "/sys/bus/ap/apmask/."}) {
    EXPECT_EQ(run({std::string("cat ") + path}).out, canonical.out) << path;
  }
  EXPECT_EQ(run({"cd /sys/bus", "cat ap/apmask"}).out, canonical.out);
  EXPECT_EQ(run({"cd /sys/bus/ap/", "cd ./../ap", "cat apmask"}).out, canonical.out);
  EXPECT_EQ(run({"cat /sys/bus/ap/apmas"}).out, "error: ENOENT: No such file or directory\n");
}

TEST(ShellLimits, AQciOverTheQueueBoundIsAScriptErrorAndChangesNothing) {
  std::ostringstream out;
  std::ostringstream err;
  shell sh(out, err);
  sh.limit_queues(4);
  const auto status = [&sh](std::string_view line) {
    sh.run_line(line);
    return sh.exit_status();
  };
  EXPECT_EQ(status("qci apm=1,2 aqm=1,2 adm=1"), 0);  // 2 x 2
  EXPECT_EQ(status("echo 0 > /sys/bus/ap/apmask"), 0);
  EXPECT_EQ(status("qci aqm=1-3"), 1);  // 2 x 3
  EXPECT_EQ(err.str(), "sim: line 3: qci: more queues than the bound of 4\n");
  // The refused configuration never reached the host: no queue 01.0003.
  sh.run_line("cat /sys/bus/ap/devices/01.0002/status /sys/bus/ap/devices/01.0003/status");
  EXPECT_EQ(out.str(), "unassigned\nerror: ENOENT: No such file or directory\n");
  // Keys left out keep what the last accepted qci set: 4 x 2 is over, 1 x 2 is not.
  EXPECT_EQ(run({"qci apm=1-4"}).err, "");  // no bound by default
  sh.run_line("qci apm=1-4");
  EXPECT_NE(err.str().find("sim: line 5: qci: more queues"), std::string::npos);
  const std::size_t errors = err.str().size();
  sh.run_line("qci apm=1");
  sh.run_line("qci apm=1,2 aqm=1,2");
  EXPECT_EQ(err.str().size(), errors);
  // reset() keeps the bound and forgets the configuration.
  sh.reset();
  sh.run_line("qci aqm=1-255");  // no adapters yet: no queues
  EXPECT_EQ(sh.exit_status(), 0);
  sh.run_line("qci apm=1-2");
  EXPECT_EQ(sh.exit_status(), 1);
}

}  // namespace
