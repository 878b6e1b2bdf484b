#include "helpers/helper_table.hpp"

#include <algorithm>

namespace bpfvm {

void HelperTable::add(Helper helper) {
  auto it = std::lower_bound(helpers_.begin(), helpers_.end(), helper.id,
                             [](const Helper& h, int32_t id) { return h.id < id; });
  if (it != helpers_.end() && it->id == helper.id) {
    *it = std::move(helper);
  } else {
    helpers_.insert(it, std::move(helper));
  }
}

const Helper* HelperTable::find(int32_t id) const {
  auto it = std::lower_bound(helpers_.begin(), helpers_.end(), id,
                             [](const Helper& h, int32_t value) { return h.id < value; });
  return it != helpers_.end() && it->id == id ? &*it : nullptr;
}

}  // namespace bpfvm
