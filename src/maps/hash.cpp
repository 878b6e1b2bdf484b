// HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH (kernel/bpf/hashtab.c, bpf_lru_list.c).
//
// Elements come from a pool allocated at creation (the kernel's preallocated mode; with
// BPF_F_NO_PREALLOC the kernel allocates on demand, which only changes memory use). Keys,
// chain links and values live in separate arrays indexed by element, so value_regions() is a
// single range holding values only. Buckets (bucket_count()) each have a
// spinlock (striped) that writers take. Program lookups take no lock, as the kernel's take
// none (RCU there): each bucket counts the changes to its chain, odd while one is under way,
// and a lookup walks the chain again when the count moved during its walk (a seqlock). The
// pool lives as long as the map, so a walk through a chain that changes under it reads pool
// memory, never freed memory, and what it finds then is discarded.
//
// Updates of an existing key link a fresh element in place of the old one (readers see the
// old value or the new one, never a mix), except per-CPU maps and BPF_F_LOCK, which copy in
// place as the kernel does. The pool has max_entries + possible-CPUs elements for that, like
// the kernel's extra_elems; a full map (max_entries live elements) refuses new keys with E2BIG.
//
// LRU maps never refuse: a new key takes a free element or evicts one. Eviction is
// second-chance LRU, like the kernel's reference bits: lookups from programs mark an element
// referenced, and the scan from the least recently inserted end gives referenced elements
// another round. BPF_F_NO_COMMON_LRU gives each CPU its own list and share of the elements.
#include <bit>
#include <cstddef>
#include <cstring>
#include <random>

#include "maps/families.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps::detail {
namespace {

constexpr uint32_t kNil = UINT32_MAX;

// Keys of other sizes than 4 and 8 bytes: a multiply-xorshift mix of 8-byte words, seeded.
uint32_t hash_bytes(const uint8_t* p, uint32_t n, uint64_t seed) {
  uint64_t h = seed ^ (uint64_t{n} * 0x9e3779b97f4a7c15ull);
  const auto word = [&h](uint64_t w) {
    h = (h ^ (w * 0xbf58476d1ce4e5b9ull)) * 0x94d049bb133111ebull;
    h ^= h >> 31;
  };
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    word(w);
  }
  uint64_t tail = 0;
  if (n > 0) std::memcpy(&tail, p, n);
  h = (h ^ (tail * 0xbf58476d1ce4e5b9ull)) * 0x94d049bb133111ebull;
  h ^= h >> 29;
  return static_cast<uint32_t>(h ^ (h >> 32));
}

uint64_t random_odd() {
  std::random_device device;
  return ((uint64_t{device()} << 32) | device()) | 1;
}

// Twice the kernel's count (a power of two >= max_entries): bpfvm's buckets take 8 bytes,
// the kernel's 16, so this is the kernel's memory for half the collisions; a lookup whose
// key shares a bucket mispredicts the walk of its chain.
uint32_t bucket_count(uint32_t max_entries) {
  uint32_t p = 1;
  while (p < max_entries) p <<= 1;
  return p <= (1u << 30) ? 2 * p : p;
}

class HashMap final : public Map {
 public:
  explicit HashMap(const MapDef& def)
      : Map(def),
        lru_(def.type == BPF_MAP_TYPE_LRU_HASH || def.type == BPF_MAP_TYPE_LRU_PERCPU_HASH),
        key_stride_(round_up8(def.key_size)),
        value_stride_(round_up8(def.value_size)),
        pool_(def.max_entries + (lru_ || is_percpu() ? 0 : cpu::possible())),
        nbuckets_(bucket_count(def.max_entries)),
        bucket_shift_(32 - std::countr_zero(nbuckets_)),
        seed_((def.map_flags & BPF_F_ZERO_SEED) ? 0 : std::random_device{}()),
        multiplier_((def.map_flags & BPF_F_ZERO_SEED) ? 0x9e3779b97f4a7c15ull : random_odd()),
        keys_(std::size_t{pool_} * key_stride_),
        values_(std::size_t{pool_} * value_stride_ * ncpus_),
        next_(new std::atomic<uint32_t>[pool_]),
        hash_(new std::atomic<uint32_t>[pool_]),
        buckets_(new Bucket[nbuckets_]),
        nstripes_(std::min(nbuckets_, kMaxStripes)),
        stripes_(new Stripe[nstripes_]) {
    for (uint32_t i = 0; i < pool_; ++i) {
      next_[i].store(kNil, std::memory_order_relaxed);
      hash_[i].store(0, std::memory_order_relaxed);
    }
    if (!lru_) {
      nfree_ = cpu::possible();
      free_lists_.reset(new FreeList[nfree_]);
      for (uint32_t i = pool_; i-- > 0;) free_lists_[i % nfree_].items.push_back(i);
      return;
    }
    const unsigned lists = (def.map_flags & BPF_F_NO_COMMON_LRU) ? cpu::possible() : 1;
    lists_ = std::vector<LruList>(lists);
    lru_prev_.assign(pool_, kNil);
    lru_next_.assign(pool_, kNil);
    ref_ = std::vector<std::atomic<uint8_t>>(pool_);
    linked_ = std::vector<std::atomic<uint8_t>>(pool_);
    owner_.assign(pool_, 0);
    const uint32_t share = pool_ / lists;  // max_entries was rounded to a multiple of lists
    for (uint32_t i = pool_; i-- > 0;) {
      owner_[i] = std::min<uint32_t>(i / share, lists - 1);
      lists_[owner_[i]].free.push_back(i);
    }
  }

  void* lookup_elem(const void* key) override { return lookup(static_cast<const uint8_t*>(key)); }
  // Maps that are not per-CPU with 4- or 8-byte keys (most of them) get a leaf function that
  // knows the key size.
  DirectLookup direct_lookup() const override {
    if (!is_percpu() && def_.key_size == 4) return lru_ ? lookup_leaf<4, true> : lookup_leaf<4, false>;
    if (!is_percpu() && def_.key_size == 8) return lru_ ? lookup_leaf<8, true> : lookup_leaf<8, false>;
    return [](void* map, const void* key) -> void* {
      return static_cast<HashMap*>(static_cast<Map*>(map))->lookup(static_cast<const uint8_t*>(key));
    };
  }

  std::optional<DirectHash> direct_hash() const override {
    if (lru_ || is_percpu() || (def_.key_size != 4 && def_.key_size != 8) || key_stride_ != 8) return std::nullopt;
    static_assert(sizeof(Bucket) == 8 && offsetof(Bucket, changes) == 4, "DirectHash describes this layout");
    return DirectHash{.buckets = reinterpret_cast<const uint8_t*>(buckets_.get()),
                      .multiplier = multiplier_,
                      .shift = 32 + bucket_shift_,
                      .key_size = def_.key_size,
                      .keys = keys_.data(),
                      .values = values_.data(),
                      .value_stride = value_stride_};
  }

  long update_elem(const void* key, const void* value, uint64_t flags) override {
    return update_impl(static_cast<const uint8_t*>(key), static_cast<const uint8_t*>(value), flags, false);
  }

  long delete_elem(const void* key) override { return delete_impl(static_cast<const uint8_t*>(key), nullptr); }

  std::vector<MemoryRegion> value_regions() const override {
    return {MemoryRegion{values_.data(), values_.bytes, (def_.map_flags & BPF_F_RDONLY_PROG) == 0}};
  }

 protected:
  long sys_lookup(const void* key, void* value, uint64_t flags) const override {
    const auto* k = static_cast<const uint8_t*>(key);
    const uint32_t h = hash_of(k);
    Bucket& b = bucket(h);
    std::lock_guard lock(lock_of(b));
    const uint32_t e = find(b, k, h);
    if (e == kNil) return fail(ENOENT, "no such key");
    copy_out(e, static_cast<uint8_t*>(value), flags);
    return 0;
  }

  long sys_update(const void* key, const void* value, uint64_t flags) override {
    return update_impl(static_cast<const uint8_t*>(key), static_cast<const uint8_t*>(value), flags, true);
  }

  long sys_delete(const void* key) override { return delete_impl(static_cast<const uint8_t*>(key), nullptr); }

  long sys_lookup_and_delete(const void* key, void* value, uint64_t flags) override {
    if (flags & ~uint64_t{BPF_F_LOCK}) return fail(EINVAL, "only BPF_F_LOCK is allowed");
    if ((flags & BPF_F_LOCK) && !has_spin_lock()) return fail(EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value");
    return delete_impl(static_cast<const uint8_t*>(key), static_cast<uint8_t*>(value), flags);
  }

  long sys_get_next_key(const void* key, void* next) const override {
    uint32_t start = 0;
    if (key) {
      const auto* k = static_cast<const uint8_t*>(key);
      const uint32_t h = hash_of(k);
      Bucket& b = bucket(h);
      std::lock_guard lock(lock_of(b));
      const uint32_t e = find(b, k, h);
      if (e != kNil) {
        if (const uint32_t n = link(next_[e]); n != kNil) {
          std::memcpy(next, key_at(n), def_.key_size);
          return 0;
        }
        start = bucket_index(h) + 1;
      }
      // Not found: the kernel restarts from the first key.
    }
    for (uint32_t i = start; i < nbuckets_; ++i) {
      Bucket& b = buckets_[i];
      std::lock_guard lock(lock_of(b));
      if (const uint32_t e = link(b.head); e != kNil) {
        std::memcpy(next, key_at(e), def_.key_size);
        return 0;
      }
    }
    return fail(ENOENT, "no more keys");
  }

 private:
  // Chain links are atomic because lookups read them while writers change them.
  struct Bucket {
    std::atomic<uint32_t> head{kNil};
    std::atomic<uint32_t> changes{0};  // odd while a writer changes the chain
  };
  // Bucket locks are striped and each stripe has its own cache line: lookups take a lock, and
  // neighbouring buckets' locks on one line would bounce between CPUs reading different keys.
  struct alignas(64) Stripe {
    SpinLock lock;
  };
  static constexpr uint32_t kMaxStripes = 256;
  struct LruList {
    SpinLock lock;
    uint32_t head = kNil;  // most recently inserted
    uint32_t tail = kNil;  // eviction candidates first
    std::vector<uint32_t> free;
  };

  // N: the key size when known at compile time, else 0.
  //
  // 4- and 8-byte keys (most maps' keys) hash by multiply-shift: the top bits of the key times
  // a random odd 64-bit number. Two given keys then share a bucket with probability at most
  // 2/nbuckets over the choice of the number (Dietzfelbinger et al., universal hashing), so
  // keys chosen to collide, without knowing the number, do no better than others; and a
  // lookup's hash takes one multiplication. Other sizes take hash_bytes, seeded.
  template <uint32_t N = 0>
  uint32_t hash_of(const uint8_t* key) const {
    const uint32_t n = N ? N : def_.key_size;
    if (n == 4) return static_cast<uint32_t>((uint64_t{load_u32(key)} * multiplier_) >> 32);
    if (n == 8) {
      uint64_t k;
      std::memcpy(&k, key, 8);
      return static_cast<uint32_t>((k * multiplier_) >> 32);
    }
    return hash_bytes(key, n, seed_);
  }
  uint32_t bucket_index(uint32_t h) const { return static_cast<uint32_t>(uint64_t{h} >> bucket_shift_); }
  Bucket& bucket(uint32_t h) const { return buckets_[bucket_index(h)]; }
  // An element holds the key: 4- and 8-byte keys compare as integers, as cheaply as their
  // hashes, so only other sizes compare hashes first.
  template <uint32_t N = 0>
  bool holds(uint32_t e, const uint8_t* key, uint32_t h) const {
    const uint32_t n = N ? N : def_.key_size;
    if (n != 4 && n != 8 && link(hash_[e]) != h) return false;
    return same_key<N>(key_at(e), key);
  }
  SpinLock& lock_of(const Bucket& b) const {
    return stripes_[static_cast<std::size_t>(&b - buckets_.get()) & (nstripes_ - 1)].lock;
  }
  uint8_t* key_at(uint32_t e) const { return keys_.data() + std::size_t{e} * key_stride_; }
  uint8_t* value_at(uint32_t e, unsigned c) const {
    return values_.data() + (std::size_t{e} * ncpus_ + c) * value_stride_;
  }

  static uint32_t link(const std::atomic<uint32_t>& l) { return l.load(std::memory_order_relaxed); }

  // Under lock_of(b).
  uint32_t find(const Bucket& b, const uint8_t* key, uint32_t h) const {
    for (uint32_t e = link(b.head); e != kNil; e = link(next_[e]))
      if (holds(e, key, h)) return e;
    return kNil;
  }

  // The program face's lookup, without a lock (see the top of the file).
  void* lookup(const uint8_t* key) {
    const uint32_t e = find_unlocked(key);
    if (e == kNil) return nullptr;
    if (lru_) ref_[e].store(1, std::memory_order_relaxed);
    return value_at(e, is_percpu() ? cpu::current_of(ncpus_) : 0);
  }
  template <uint32_t N, bool Lru>
  static void* lookup_leaf(void* map, const void* key) {
    auto* self = static_cast<HashMap*>(static_cast<Map*>(map));
    const uint32_t e = self->find_unlocked<N>(static_cast<const uint8_t*>(key));
    if (e == kNil) return nullptr;
    if constexpr (Lru) self->ref_[e].store(1, std::memory_order_relaxed);
    return self->values_.data() + std::size_t{e} * self->value_stride_;  // one CPU's value
  }

  // A walk that meets more elements than the pool has went round a chain being changed: the
  // count moved, so it is walked again.
  template <uint32_t N = 0>
  uint32_t find_unlocked(const uint8_t* key) const {
    const uint32_t h = hash_of<N>(key);
    const Bucket& b = bucket(h);
    uint32_t e;
    for (;;) {
      const uint32_t before = b.changes.load(std::memory_order_acquire);
      bool whole = true;
      e = link(b.head);
      for (uint32_t seen = 0; e != kNil; e = link(next_[e])) {
        if (holds<N>(e, key, h)) break;
        if (++seen > pool_) {
          whole = false;
          break;
        }
      }
      std::atomic_thread_fence(std::memory_order_acquire);
      if (whole && (before & 1) == 0 && b.changes.load(std::memory_order_relaxed) == before) break;
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
    }
    return e;
  }

  // Writers (under lock_of(b)) change a chain between these two.
  static void begin_change(Bucket& b) {
    b.changes.store(b.changes.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
  }
  static void end_change(Bucket& b) {
    b.changes.store(b.changes.load(std::memory_order_relaxed) + 1, std::memory_order_release);
  }
  // The common key sizes compare as integers, not through a memcmp call.
  template <uint32_t N = 0>
  bool same_key(const uint8_t* a, const uint8_t* b) const {
    switch (N ? N : def_.key_size) {
      case 4: return load_u32(a) == load_u32(b);
      case 8: {
        uint64_t x, y;
        std::memcpy(&x, a, 8);
        std::memcpy(&y, b, 8);
        return x == y;
      }
      default: return std::memcmp(a, b, def_.key_size) == 0;
    }
  }
  void unlink(Bucket& b, uint32_t e) {
    std::atomic<uint32_t>* at = &b.head;
    while (link(*at) != e) at = &next_[link(*at)];
    begin_change(b);
    at->store(link(next_[e]), std::memory_order_relaxed);
    next_[e].store(kNil, std::memory_order_relaxed);
    end_change(b);
  }

  // One value (program face: this CPU's slot, the others zeroed for a new element) or all
  // CPUs' values (user space) into element e.
  void write_value(uint32_t e, const uint8_t* value, bool from_user, bool is_new, uint64_t flags) {
    if (!is_percpu()) {
      uint8_t* dst = value_at(e, 0);
      if (flags & BPF_F_LOCK) {
        spin_lock(dst + def_.spin_lock_off);
        copy_value_in(dst, value);
        spin_unlock(dst + def_.spin_lock_off);
      } else {
        if (is_new && has_spin_lock()) std::memset(dst + def_.spin_lock_off, 0, 4);
        copy_value_in(dst, value);
      }
      return;
    }
    if (from_user) {
      // Each CPU's value with its padding to 8 bytes, as the kernel copies it.
      for (unsigned c = 0; c < ncpus_; ++c) std::memcpy(value_at(e, c), value + std::size_t{c} * value_stride_, value_stride_);
      return;
    }
    const unsigned me = cpu::current_of(ncpus_);
    if (is_new)
      for (unsigned c = 0; c < ncpus_; ++c) std::memset(value_at(e, c), 0, value_stride_);
    std::memcpy(value_at(e, me), value, def_.value_size);
  }

  void copy_out(uint32_t e, uint8_t* out, uint64_t flags) const {
    if (is_percpu()) {
      for (unsigned c = 0; c < ncpus_; ++c) std::memcpy(out + std::size_t{c} * value_stride_, value_at(e, c), value_stride_);
      return;
    }
    uint8_t* src = value_at(e, 0);
    if (flags & BPF_F_LOCK) spin_lock(src + def_.spin_lock_off);
    copy_value_out(out, src);
    if (flags & BPF_F_LOCK) spin_unlock(src + def_.spin_lock_off);
  }

  static long check_flags(uint32_t old, uint64_t flags) {
    if (old != kNil && (flags & 3) == BPF_NOEXIST) return fail(EEXIST, "key exists (BPF_NOEXIST)");
    if (old == kNil && (flags & 3) == BPF_EXIST) return fail(ENOENT, "no such key (BPF_EXIST)");
    return 0;
  }

  long update_impl(const uint8_t* key, const uint8_t* value, uint64_t flags, bool from_user) {
    if (is_percpu() ? flags > BPF_EXIST : bad_update_flags(flags)) return fail(EINVAL, "invalid update flags");
    const uint32_t h = hash_of(key);
    Bucket& b = bucket(h);
    const bool in_place = is_percpu() || (flags & BPF_F_LOCK);
    lock_of(b).lock();
    uint32_t old = find(b, key, h);
    if (long r = check_flags(old, flags); r < 0) {
      lock_of(b).unlock();
      return r;
    }
    if (old != kNil && in_place) {
      write_value(old, value, from_user, false, flags);
      if (lru_) ref_[old].store(1, std::memory_order_relaxed);
      lock_of(b).unlock();
      return 0;
    }
    uint32_t e = kNil;
    if (!lru_) {
      if (old == kNil && count_.fetch_add(1, std::memory_order_relaxed) >= def_.max_entries) {
        count_.fetch_sub(1, std::memory_order_relaxed);
        lock_of(b).unlock();
        return fail(E2BIG, "map is full");
      }
      e = pop_free();
      if (e == kNil) {  // only when more threads replace at once than there are spare elements
        if (old == kNil) count_.fetch_sub(1, std::memory_order_relaxed);
        if (old != kNil) write_value(old, value, from_user, false, flags);
        lock_of(b).unlock();
        return old != kNil ? 0 : fail(ENOMEM, "no free element");
      }
    } else {
      // Taking an element may evict, which locks the victim's bucket: not under ours.
      lock_of(b).unlock();
      e = lru_acquire();
      if (e == kNil) return fail(ENOMEM, "no element could be evicted");
      lock_of(b).lock();
      old = find(b, key, h);
      if (long r = check_flags(old, flags); r < 0) {
        lock_of(b).unlock();
        lru_release(e);
        return r;
      }
      if (old != kNil && in_place) {  // someone inserted it meanwhile
        write_value(old, value, from_user, false, flags);
        lock_of(b).unlock();
        lru_release(e);
        return 0;
      }
    }
    std::memcpy(key_at(e), key, def_.key_size);
    hash_[e].store(h, std::memory_order_relaxed);
    write_value(e, value, from_user, true, flags & ~uint64_t{BPF_F_LOCK});
    begin_change(b);
    next_[e].store(link(b.head), std::memory_order_relaxed);
    b.head.store(e, std::memory_order_relaxed);
    end_change(b);
    // Published after hash_[e]: eviction reads the hash of elements it sees linked.
    if (lru_) linked_[e].store(1, std::memory_order_release);
    if (old != kNil) {
      unlink(b, old);
      if (lru_) linked_[old].store(0, std::memory_order_relaxed);
    } else if (lru_) {
      count_.fetch_add(1, std::memory_order_relaxed);
    }
    lock_of(b).unlock();
    if (old != kNil) release(old);
    return 0;
  }

  long delete_impl(const uint8_t* key, uint8_t* value_out, uint64_t out_flags = 0) {
    const uint32_t h = hash_of(key);
    Bucket& b = bucket(h);
    lock_of(b).lock();
    const uint32_t e = find(b, key, h);
    if (e == kNil) {
      lock_of(b).unlock();
      return fail(ENOENT, "no such key");
    }
    if (value_out) copy_out(e, value_out, out_flags);
    unlink(b, e);
    if (lru_) linked_[e].store(0, std::memory_order_relaxed);
    lock_of(b).unlock();
    count_.fetch_sub(1, std::memory_order_relaxed);
    release(e);
    return 0;
  }

  // Free elements are kept per CPU, like the kernel's pcpu_freelist: updates on different
  // CPUs do not meet on one lock. A CPU whose list is empty takes from the others.
  uint32_t pop_free() {
    const unsigned me = cpu::current_of(nfree_);
    for (unsigned i = 0; i < nfree_; ++i) {
      FreeList& f = free_lists_[(me + i) % nfree_];
      std::lock_guard lock(f.lock);
      if (f.items.empty()) continue;
      const uint32_t e = f.items.back();
      f.items.pop_back();
      return e;
    }
    return kNil;
  }
  void release(uint32_t e) {
    if (lru_) {
      lru_release(e);
      return;
    }
    FreeList& f = free_lists_[cpu::current_of(nfree_)];
    std::lock_guard lock(f.lock);
    f.items.push_back(e);
  }

  // ---- LRU lists: lock order is list -> bucket, never the reverse. ----
  void list_remove(LruList& l, uint32_t e) {
    if (lru_prev_[e] != kNil) lru_next_[lru_prev_[e]] = lru_next_[e];
    else l.head = lru_next_[e];
    if (lru_next_[e] != kNil) lru_prev_[lru_next_[e]] = lru_prev_[e];
    else l.tail = lru_prev_[e];
    lru_prev_[e] = lru_next_[e] = kNil;
  }
  void list_push_head(LruList& l, uint32_t e) {
    lru_prev_[e] = kNil;
    lru_next_[e] = l.head;
    if (l.head != kNil) lru_prev_[l.head] = e;
    l.head = e;
    if (l.tail == kNil) l.tail = e;
  }

  // An element for a new key, on the in-use list but not yet in the table.
  uint32_t lru_acquire() {
    LruList& l = lists_[lists_.size() == 1 ? 0 : cpu::current_of(static_cast<unsigned>(lists_.size()))];
    std::lock_guard lock(l.lock);
    uint32_t e = kNil;
    if (!l.free.empty()) {
      e = l.free.back();
      l.free.pop_back();
    } else {
      // Second chance: at most two passes over the list.
      for (std::size_t tries = 0; e == kNil && l.tail != kNil && tries < 2 * std::size_t{pool_}; ++tries) {
        const uint32_t victim = l.tail;
        list_remove(l, victim);
        list_push_head(l, victim);
        if (ref_[victim].exchange(0, std::memory_order_relaxed)) continue;
        // An element being inserted (not yet linked) or deleted is skipped. A linked one's
        // hash is stable while we hold the list lock: it cannot be freed and taken again
        // without it.
        if (!linked_[victim].load(std::memory_order_acquire)) continue;
        Bucket& b = bucket(link(hash_[victim]));
        std::lock_guard block(lock_of(b));
        if (!linked_[victim].load(std::memory_order_relaxed)) continue;
        unlink(b, victim);
        linked_[victim].store(0, std::memory_order_relaxed);
        count_.fetch_sub(1, std::memory_order_relaxed);
        e = victim;
      }
      if (e == kNil) return kNil;
      list_remove(l, e);
    }
    ref_[e].store(0, std::memory_order_relaxed);
    list_push_head(l, e);
    return e;
  }

  void lru_release(uint32_t e) {
    LruList& l = lists_[owner_[e]];
    std::lock_guard lock(l.lock);
    list_remove(l, e);
    l.free.push_back(e);
  }

  const bool lru_;
  const uint32_t key_stride_;
  const uint32_t value_stride_;
  const uint32_t pool_;
  const uint32_t nbuckets_;
  const uint32_t bucket_shift_;  // a hash's top log2(nbuckets_) bits pick its bucket
  const uint64_t seed_;
  const uint64_t multiplier_;  // odd
  AlignedBuffer keys_;
  AlignedBuffer values_;
  std::unique_ptr<std::atomic<uint32_t>[]> next_;
  std::unique_ptr<std::atomic<uint32_t>[]> hash_;
  std::unique_ptr<Bucket[]> buckets_;
  const uint32_t nstripes_;  // a power of two
  std::unique_ptr<Stripe[]> stripes_;
  std::atomic<uint32_t> count_{0};
  struct alignas(64) FreeList {
    SpinLock lock;
    std::vector<uint32_t> items;
  };
  unsigned nfree_ = 0;
  std::unique_ptr<FreeList[]> free_lists_;  // not LRU
  // LRU only.
  std::vector<LruList> lists_;
  std::vector<uint32_t> lru_prev_, lru_next_;
  std::vector<std::atomic<uint8_t>> ref_;
  std::vector<std::atomic<uint8_t>> linked_;  // in the table; changed under the element's bucket lock
  std::vector<uint32_t> owner_;  // which list an element belongs to
};

}  // namespace

Result<MapDef> check_hash(const MapDef& def_in) {
  MapDef def = def_in;
  const bool percpu = def.type == BPF_MAP_TYPE_PERCPU_HASH || def.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  const bool lru = def.type == BPF_MAP_TYPE_LRU_HASH || def.type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
  const bool percpu_lru = def.map_flags & BPF_F_NO_COMMON_LRU;
  const bool prealloc = !(def.map_flags & BPF_F_NO_PREALLOC);
  constexpr uint32_t kHashFlags = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | BPF_F_RDONLY |
                                  BPF_F_WRONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | BPF_F_ZERO_SEED;
  const std::string type = map_type_name(def.type);
  if (def.map_flags & ~kHashFlags)
    return map_error(EINVAL, fmt::format("map_flags {:#x} has flags a {} map does not take", def.map_flags, type));
  if (!lru && percpu_lru) return map_error(EINVAL, "BPF_F_NO_COMMON_LRU is only for LRU maps");
  if (lru && !prealloc) return map_error(kEnotsupp, "LRU maps cannot be BPF_F_NO_PREALLOC (ENOTSUPP)");
  if ((def.map_flags & BPF_F_NUMA_NODE) && (percpu || percpu_lru))
    return map_error(EINVAL, "BPF_F_NUMA_NODE is not allowed for per-CPU maps or lists");
  if (def.max_entries == 0 || def.key_size == 0 || def.value_size == 0)
    return map_error(EINVAL, fmt::format("key_size {}, value_size {} and max_entries {} must all be > 0", def.key_size,
                                         def.value_size, def.max_entries));
  if (def.value_size >= kKmallocMaxSize - kMaxBpfStack - 64)
    return map_error(E2BIG, fmt::format("value_size {} is too large", def.value_size));
  if (percpu && round_up8(def.value_size) > kPcpuMinUnitSize)
    return map_error(E2BIG, fmt::format("per-CPU value_size {} is over {}", def.value_size, kPcpuMinUnitSize));
  if (percpu && def.spin_lock_off >= 0) return map_error(EINVAL, "bpf_spin_lock is not allowed in per-CPU maps");
  if (percpu_lru) {
    // Each CPU's list gets the same number of elements (htab_map_alloc).
    const uint32_t n = cpu::possible();
    uint64_t rounded = (uint64_t{def.max_entries} + n - 1) / n * n;
    if (rounded > UINT32_MAX) rounded = uint64_t{def.max_entries} / n * n;
    if (rounded == 0) return map_error(E2BIG, "max_entries is smaller than the number of CPUs");
    def.max_entries = static_cast<uint32_t>(rounded);
  }
  if (def.max_entries > (1u << 31)) return map_error(E2BIG, fmt::format("max_entries {} is too large", def.max_entries));
  const uint64_t per_elem = round_up8(def.key_size) + uint64_t{round_up8(def.value_size)} * (percpu ? cpu::possible() : 1) + 16;
  const uint64_t bytes = per_elem * (uint64_t{def.max_entries} + cpu::possible()) + uint64_t{16} * def.max_entries;
  if (bytes > kMaxMapBytes) return map_error(ENOMEM, fmt::format("map would need {} bytes", bytes));
  return def;
}

Result<MapPtr> make_hash(const MapDef& def) {
  auto checked = check_hash(def);
  if (!checked) return checked.error();
  return MapPtr(new HashMap(*checked));
}

}  // namespace bpfvm::maps::detail
