// Paths in messages and questions to the file system that never throw: a symlink loop, a name over
// PATH_MAX or a folder without permission becomes a one-line sean::Error naming the path and the reason.
#pragma once

#include <cerrno>
#include <filesystem>
#include <string>
#include <system_error>

#include "core.hpp"

namespace sean::core {

// A path as messages show it, as the Python runtime shows it (sean_core.files.shown_path): whole up to 200
// characters, else its first 100 and last 60 around an ellipsis, then its length.
inline std::string shown_path(const std::string& path) {
  if (path.size() <= 200) return path;
  return path.substr(0, 100) + "\u2026" + path.substr(path.size() - 60) + " (" + std::to_string(path.size()) +
         " characters)";
}

// The type of what `path` names: not_found when nothing is there; an Error of `status` when the
// file system cannot say (a symlink loop, a name too long, a folder that cannot be searched). A loop is
// named in the Python runtime's words (sean_core.files.path_problem, LOOP).
inline std::filesystem::file_type file_type_of(const std::string& path, Status status) {
  std::error_code error;
  const std::filesystem::file_status found = std::filesystem::status(path, error);
  if (found.type() == std::filesystem::file_type::not_found) return found.type();
  if (error.value() == ELOOP) throw Error(status, shown_path(path) + " is a loop of symbolic links");
  if (error) throw Error(status, shown_path(path) + ": cannot be read (" + error.message() + ")");
  return found.type();
}

}  // namespace sean::core
