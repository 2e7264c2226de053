#include "vr/catalog_store.h"

#include <sys/stat.h>

#include "vr/recommender.h"
#include "vr/service.h"

namespace vr {

std::shared_ptr<const Catalog> CatalogStore::get() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return catalog_;
}

void CatalogStore::set(std::shared_ptr<const Catalog> catalog) {
  std::vector<Binding> released;  // freed outside the lock
  std::lock_guard<std::mutex> lock(mutex_);
  catalog_.swap(catalog);
  released.swap(bindings_);
}

std::shared_ptr<const CatalogRules> CatalogStore::rules_for(const ModelSnapshot& snapshot) const {
  std::shared_ptr<const Catalog> catalog;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!catalog_) return nullptr;
    for (const Binding& binding : bindings_) {
      if (binding.model.lock() == snapshot.recommender) return binding.rules;
    }
    catalog = catalog_;
  }
  auto rules = std::make_shared<const CatalogRules>(catalog, snapshot.recommender->mappings().videos);
  std::vector<Binding> released;  // bindings of freed models, freed outside the lock
  std::lock_guard<std::mutex> lock(mutex_);
  // Kept only while its catalog is still the current one; another thread may have bound the
  // same pair meanwhile, and then its binding is the one every request shares.
  if (catalog_ != catalog) return rules;
  for (const Binding& binding : bindings_) {
    if (binding.model.lock() == snapshot.recommender) return binding.rules;
  }
  std::vector<Binding> kept;
  for (Binding& binding : bindings_) {
    (binding.model.expired() ? released : kept).push_back(std::move(binding));
  }
  kept.push_back(Binding{snapshot.recommender, rules});
  bindings_.swap(kept);
  return rules;
}

std::string file_fingerprint(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return {};
  return std::to_string(info.st_ino) + ':' + std::to_string(info.st_size) + ':' + std::to_string(info.st_mtim.tv_sec) +
         '.' + std::to_string(info.st_mtim.tv_nsec);
}

}  // namespace vr
