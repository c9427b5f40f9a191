// test_crash_safe.cc: `lightbox train` survives being killed (docs/reliability.md).
//
//   - SIGKILL at seeded random moments (before the run folder exists, while loading, mid-epoch,
//     while a checkpoint is being written): every file left under its final name is complete
//     (config.json and history.json parse, every .safetensors loads), and `train --resume` with
//     the same flags then finishes with exactly the uninterrupted run's result: history (less its
//     wall-clock seconds) equal, best and resume checkpoints bitwise equal, no temporary files left.
//   - SIGINT (Ctrl-C): exit code 130, one line saying where the state was saved and how to go on,
//     a resumable state on disk, and --resume again reaches the uninterrupted result bit for bit
//     (this is the mid-epoch path: the state holds the batch it stopped at).
// The runs are 16x16 images, 48 train samples, batches of 16: a second or two each.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/io/file.h"
#include "engine/io/safetensors.h"
#include "tests/support/check.h"
#include "tests/support/tiny_dataset.h"

namespace lb {
namespace {
using test::same_tensors;

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The run every case must reproduce: 3 epochs, a schedule and augmentation whose positions must
// survive a kill, two threads (the CI's cores) for the OpenMP reductions.
std::vector<std::string> train_args(const std::string& data, const std::string& out) {
  return {"train", "--data", data, "--out",      out,      "--epochs",  "3",       "--batch-size", "16",        "--lr",
          "0.05",  "--seed", "7",  "--schedule", "cosine", "--augment", "shift=1", "--quiet",      "--threads", "2"};
}

// Starts `lightbox args...` with stdout and stderr going to files in `dir`; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& dir, const std::string& tag) {
  const std::string out = dir + "/" + tag + ".out", err = dir + "/" + tag + ".err";
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> argv{const_cast<char*>(LB_CLI_PATH)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(LB_CLI_PATH, argv.data());
    _exit(127);
  }
  return pid;
}

// Waits for `pid`; the exit code, or 128 + the signal that ended it.
int wait_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int run(const std::vector<std::string>& args, const std::string& dir, const std::string& tag) {
  return wait_code(spawn(args, dir, tag));
}

std::vector<std::string> with_resume(std::vector<std::string> args) {
  args.push_back("--resume");
  return args;
}

json history_of(const std::string& run) {
  json h = json::parse(io::read_file(run + "/history.json"));
  for (auto& r : h) r.erase("seconds");  // wall-clock time, the one field allowed to differ
  return h;
}

// Temporary files of write_file_atomic ("<name>.tmp.<pid>.<n>") anywhere under `run`.
std::vector<std::string> temp_files(const std::string& run) {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(run, ec))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) found.push_back(e.path().string());
  return found;
}

// Every file under its final name is whole: JSON parses, safetensors load. Temp files may exist.
::testing::AssertionResult final_files_complete(const std::string& run) {
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(run, ec)) {
    const std::string name = e.path().filename().string(), path = e.path().string();
    if (!e.is_regular_file() || name.find(".tmp.") != std::string::npos) continue;
    try {
      if (e.path().extension() == ".json") {
        const json parsed = json::parse(io::read_file(path));
        EXPECT_FALSE(parsed.is_discarded()) << path;
      }
      if (e.path().extension() == ".safetensors") io::load_safetensors(path);
    } catch (const std::exception& ex) {
      return ::testing::AssertionFailure() << path << " is not a complete file: " << ex.what();
    }
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult same_result(const std::string& ref, const std::string& run) {
  if (history_of(ref) != history_of(run))
    return ::testing::AssertionFailure() << "history differs:\n"
                                         << history_of(ref).dump() << "\n"
                                         << history_of(run).dump();
  for (const char* ck : {"/checkpoints/best.safetensors", "/checkpoints/resume.safetensors"}) {
    auto r = same_tensors(ref + ck, run + ck);
    if (!r) return r;
  }
  return ::testing::AssertionSuccess();
}

struct Reference {
  std::string data, run;
  double seconds = 0;
};

// The uninterrupted run every case must reproduce, in `dir`.
Reference make_reference(const std::string& dir) {
  Reference ref;
  ref.data = test::write_tiny_dataset(dir + "/tiny.npz");
  ref.run = dir + "/ref";
  const auto t0 = Clock::now();
  const int code = run(train_args(ref.data, ref.run), dir, "ref");
  ref.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_EQ(code, 0) << io::read_file(dir + "/ref.err");
  return ref;
}

TEST(KilledRun, ResumeAfterSigkillAtRandomMomentsEqualsTheUninterruptedRunBitForBit) {
  const std::string dir = test::fresh_dir();
  const Reference ref = make_reference(dir);
  ASSERT_TRUE(fs::exists(ref.run + "/history.json"));
  for (const uint32_t seed : {1u, 2u, 3u, 4u, 5u}) {
    const std::string out = dir + "/run" + std::to_string(seed);
    // A seeded kill time anywhere in the run's life, start-up included.
    std::mt19937 rng(seed);
    const double at = std::uniform_real_distribution<double>(0.02, 0.98)(rng) * ref.seconds;
    const pid_t pid = spawn(train_args(ref.data, out), dir, "killed");
    std::this_thread::sleep_for(std::chrono::duration<double>(at));
    kill(pid, SIGKILL);
    const int code = wait_code(pid);
    SCOPED_TRACE("seed " + std::to_string(seed) + ": killed at " + std::to_string(at) + " s of " +
                 std::to_string(ref.seconds) + " (exit " + std::to_string(code) + ")");
    if (fs::exists(out)) {
      EXPECT_TRUE(final_files_complete(out));
      // What a kill inside write_file_atomic leaves: the temp file of a process that is gone
      // (pid 2^22 + 1 is above Linux's largest pid_max). --resume must clear it away.
      fs::create_directories(out + "/checkpoints");
      io::write_file_atomic(out + "/checkpoints/resume.safetensors.tmp.4194305.0", "half a file");
    }
    ASSERT_EQ(run(with_resume(train_args(ref.data, out)), dir, "resumed"), 0) << io::read_file(dir + "/resumed.err");
    EXPECT_TRUE(same_result(ref.run, out));
    EXPECT_EQ(temp_files(out), std::vector<std::string>{});
    fs::remove_all(out);  // 135 MB of checkpoints per run
  }
}

TEST(InterruptedRun, CtrlCSavesAResumableStateAndExits130) {
  const std::string dir = test::fresh_dir(), out = dir + "/run";
  const Reference ref = make_reference(dir);
  const pid_t pid = spawn(train_args(ref.data, out), dir, "interrupted");
  // The handler is in place once the run writes config.json; wait for it, then press Ctrl-C.
  const auto t0 = Clock::now();
  while (!fs::exists(out + "/config.json") && Clock::now() - t0 < std::chrono::seconds(120))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  std::this_thread::sleep_for(std::chrono::duration<double>(0.1 * ref.seconds));
  kill(pid, SIGINT);
  const int code = wait_code(pid);
  const std::string err = io::read_file(dir + "/interrupted.err");
  EXPECT_EQ(code, 130) << err;
  EXPECT_NE(err.find("lightbox: interrupted: saved the state at epoch"), std::string::npos) << err;
  EXPECT_NE(err.find("--resume"), std::string::npos) << err;
  EXPECT_TRUE(final_files_complete(out));
  const json trainer =
      json::parse(io::load_safetensors(out + "/checkpoints/resume.safetensors").metadata.at("trainer"));
  EXPECT_LT(trainer.at("next_epoch").get<int>(), 3) << "the run finished before the Ctrl-C; it proves nothing";
  ASSERT_EQ(run(with_resume(train_args(ref.data, out)), dir, "resumed"), 0) << io::read_file(dir + "/resumed.err");
  EXPECT_TRUE(same_result(ref.run, out)) << "stopped at epoch " << trainer.at("next_epoch") << ", batch "
                                         << trainer.at("next_batch");
  EXPECT_EQ(temp_files(out), std::vector<std::string>{});
}

}  // namespace
}  // namespace lb
