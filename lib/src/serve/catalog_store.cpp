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
  std::shared_ptr<const CatalogRules> released;  // freed outside the lock
  std::lock_guard<std::mutex> lock(mutex_);
  catalog_.swap(catalog);
  released.swap(bound_);
  bound_model_.reset();
}

std::shared_ptr<const CatalogRules> CatalogStore::rules_for(const ModelSnapshot& snapshot) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!catalog_) return nullptr;
  if (bound_ && bound_model_.lock() == snapshot.recommender) return bound_;
  bound_ = std::make_shared<const CatalogRules>(catalog_, snapshot.recommender->mappings().videos);
  bound_model_ = snapshot.recommender;
  return bound_;
}

std::string file_fingerprint(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return {};
  return std::to_string(info.st_ino) + ':' + std::to_string(info.st_size) + ':' + std::to_string(info.st_mtim.tv_sec) +
         '.' + std::to_string(info.st_mtim.tv_nsec);
}

}  // namespace vr
