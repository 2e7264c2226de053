// The catalog vr-serve answers with, swapped atomically when videos.csv changes (like the
// model in vr/service.h's ModelStore), and its rules bound to the model being served. Free of
// Eigen and httplib, so the HTTP layer can hold one.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "vr/catalog.h"
#include "vr/eligibility.h"

namespace vr {

struct ModelSnapshot;
class Recommender;

// What one request is answered with: the catalog's rules for the model that answers it, and
// the time availability windows are checked at.
struct CatalogContext {
  std::shared_ptr<const CatalogRules> rules;  // null = no catalog: every video eligible, none has a category
  double now = 0;                             // seconds since the epoch
};

class CatalogStore {
 public:
  // The current catalog, or null before one is set.
  std::shared_ptr<const Catalog> get() const;
  // Makes `catalog` the current one; requests that already took the old one keep it.
  void set(std::shared_ptr<const Catalog> catalog);
  // The current catalog bound to `snapshot`'s videos: built on the first call for a (catalog,
  // model) pair and kept while both are in use, for every model still in use (the one being
  // served, a new one bound before it is published, an old one finishing its requests). The
  // binding is built outside the lock, so requests on other models never wait for it. Null
  // when no catalog is set.
  std::shared_ptr<const CatalogRules> rules_for(const ModelSnapshot& snapshot) const;

 private:
  // The current catalog bound to one model (weak: a swapped-out model is freed as usual, and
  // a new one at the same address never matches an expired pointer).
  struct Binding {
    std::weak_ptr<const Recommender> model;
    std::shared_ptr<const CatalogRules> rules;
  };

  mutable std::mutex mutex_;
  std::shared_ptr<const Catalog> catalog_;
  mutable std::vector<Binding> bindings_;  // for catalog_; those of freed models are dropped
};

// A cheap fingerprint of the file at `path` (inode, size, modification time); empty when it
// does not exist or is not a regular file.
std::string file_fingerprint(const std::string& path);

}  // namespace vr
