// Maps under many threads: programs (the pointer face) and user space at once, each test with
// an invariant checked at the end. Bounded in time: a few thousand operations per thread.
#include <atomic>
#include <set>
#include <thread>

#include "map_test_util.hpp"
#include "maps/map_in_map.hpp"
#include "maps/perf_event_array.hpp"
#include "maps/prog_array.hpp"
#include "maps/ringbuf.hpp"
#include "support/cpu.hpp"

namespace bpfvm::maps::test {
namespace {

constexpr int kThreads = 4;

template <typename Fn>
void run_threads(int n, Fn fn) {
  std::vector<std::thread> threads;
  for (int t = 0; t < n; ++t) threads.emplace_back(fn, t);
  for (auto& th : threads) th.join();
}

uint64_t value_for(uint32_t key, uint32_t round) { return (uint64_t{key} << 32) | round; }

TEST(MapConcurrency, HashKeepsEachThreadsKeysWhileOthersChurnAndIterate) {
  for (uint32_t type : {BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_PERCPU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH}) {
    const bool percpu = type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
    auto m = make(type, 4, 8, kThreads * 64 + 64);
    std::atomic<bool> stop{false};
    std::atomic<int> bad_keys{0};
    std::thread iterator([&] {
      while (!stop.load()) {
        std::vector<uint8_t> key;
        int guard = 0;
        while (auto next = m->get_next_key(key)) {
          if (as<uint32_t>(*next) >= kThreads * 1000u) ++bad_keys;
          key = *next;
          if (++guard > 100000) break;
        }
      }
    });
    std::atomic<int> mismatches{0};
    run_threads(kThreads, [&](int t) {
      for (uint32_t round = 0; round < 2000; ++round) {
        const uint32_t key = static_cast<uint32_t>(t) * 1000 + round % 64;
        const uint64_t v = value_for(key, round);
        if (round % 3 == 0) {
          if (m->update_elem(&key, &v, BPF_ANY) != 0) ++mismatches;
          auto* p = static_cast<uint64_t*>(m->lookup_elem(&key));
          // Only this thread writes its keys (an LRU map has room for all of them).
          if (!p || (!percpu && *p != v) || (percpu && *p != v)) ++mismatches;
        } else if (round % 3 == 1) {
          std::vector<uint8_t> in(m->user_value_size());
          for (std::size_t off = 0; off < in.size(); off += 8) std::memcpy(in.data() + off, &v, 8);
          if (!m->update(bytes(key), in).ok()) ++mismatches;
          auto out = m->lookup(bytes(key));
          if (!out || *out != in) ++mismatches;
        } else {
          // Written 64 rounds ago (round - 64 is an update), except on the first pass.
          if (m->delete_elem(&key) != (round < 64 ? -ENOENT : 0)) ++mismatches;
          if (m->lookup_elem(&key) != nullptr) ++mismatches;
        }
      }
    });
    stop = true;
    iterator.join();
    EXPECT_EQ(mismatches.load(), 0) << map_type_name(type);
    EXPECT_EQ(bad_keys.load(), 0) << map_type_name(type);
  }
}

// Program lookups take no lock: they must still find every key that stays in the map while a
// writer links and unlinks other elements of the same chains, and replaces the elements of
// keys 0-3 (with the same value). 16 buckets for 8 + 4 keys: chains change all the time; an
// LRU map has room for them all, so it never evicts a key that stays. Values are checked for
// keys 4-7 only: a replaced element goes back to the pool, and may hold another key's value
// by the time a reader that found it reads it (as in the kernel's preallocated maps). Both
// faces of the program lookup are read: lookup_elem and the direct call verified code makes.
TEST(MapConcurrency, LockFreeLookupsFindKeysThatStayWhileTheirChainsChange) {
  for (uint32_t type : {BPF_MAP_TYPE_HASH, BPF_MAP_TYPE_LRU_HASH}) {
    for (uint32_t key_size : {4u, 8u, 12u}) {
      auto m = make(type, key_size, 8, 16);
      auto key_of = [&](uint32_t k) {
        std::vector<uint8_t> key(key_size, 0);
        std::memcpy(key.data(), &k, 4);
        key[key_size - 1] ^= static_cast<uint8_t>(k);  // keys differ past the first 4 bytes too
        return key;
      };
      for (uint32_t k = 0; k < 8; ++k) {
        const uint64_t v = value_for(k, 0);
        ASSERT_EQ(m->update_elem(key_of(k).data(), &v, BPF_ANY), 0);
      }
      const DirectLookup direct = m->direct_lookup();
      std::atomic<bool> stop{false};
      std::atomic<int> missed{0}, wrong{0}, phantom{0};
      std::atomic<uint64_t> lookups{0};
      std::thread writer([&] {
        for (uint32_t round = 0; !stop.load(std::memory_order_relaxed); ++round) {
          // Keys 100.. come and go; keys 0..7 get fresh elements with the same value.
          const uint32_t churn = 100 + round % 4;
          const uint64_t v = value_for(churn, round);
          if (round % 2 == 0) m->update_elem(key_of(churn).data(), &v, BPF_ANY);
          else m->delete_elem(key_of(churn).data());
          const uint32_t stay = round % 4;
          const uint64_t same = value_for(stay, 0);
          m->update_elem(key_of(stay).data(), &same, BPF_EXIST);
        }
      });
      run_threads(2, [&](int t) {
        for (int i = 0; i < 40000; ++i) {
          const uint32_t k = static_cast<uint32_t>(i) % 8;
          const auto key = key_of(k);
          auto* p = static_cast<const uint64_t*>(t == 0 ? m->lookup_elem(key.data()) : direct(m.get(), key.data()));
          if (p == nullptr) ++missed;
          else if (k >= 4 && *p != value_for(k, 0)) ++wrong;
          if (m->lookup_elem(key_of(1000 + k).data()) != nullptr) ++phantom;  // never inserted
          lookups.fetch_add(1, std::memory_order_relaxed);
        }
      });
      stop = true;
      writer.join();
      const std::string what = map_type_name(type) + ", key_size " + std::to_string(key_size);
      EXPECT_EQ(missed.load(), 0) << what;
      EXPECT_EQ(wrong.load(), 0) << what;
      EXPECT_EQ(phantom.load(), 0) << what;
      EXPECT_EQ(lookups.load(), 80000u) << what;
    }
  }
}

TEST(MapConcurrency, FullHashAdmitsExactlyMaxEntries) {
  auto m = make(BPF_MAP_TYPE_HASH, 4, 8, 100);
  std::atomic<int> admitted{0}, refused{0};
  run_threads(kThreads, [&](int t) {
    for (uint32_t i = 0; i < 100; ++i) {
      const uint32_t key = static_cast<uint32_t>(t) * 1000 + i;
      const uint64_t v = key;
      const long r = m->update_elem(&key, &v, BPF_NOEXIST);
      (r == 0 ? admitted : refused)++;
      if (r != 0 && r != -E2BIG) ADD_FAILURE() << r;
    }
  });
  EXPECT_EQ(admitted.load(), 100);
  EXPECT_EQ(refused.load(), kThreads * 100 - 100);
  int count = 0;
  ASSERT_TRUE(m->for_each([&](auto k, auto v) {
    EXPECT_EQ(as<uint32_t>(std::vector<uint8_t>(k.begin(), k.end())), as<uint64_t>(std::vector<uint8_t>(v.begin(), v.end())));
    ++count;
    return true;
  }).ok());
  EXPECT_EQ(count, 100);
}

TEST(MapConcurrency, ReplacedValuesAreNeverTorn) {
  auto m = make(BPF_MAP_TYPE_HASH, 4, 64, 4);
  std::atomic<int> readers_done{0};
  std::atomic<int> torn{0}, reads{0};
  std::thread writer([&] {
    std::array<uint64_t, 8> v{};
    for (uint64_t round = 0; readers_done.load() < 2; ++round) {
      v.fill(round);
      const uint32_t key = 1;
      m->update_elem(&key, v.data(), BPF_ANY);
    }
  });
  run_threads(2, [&](int) {
    for (int i = 0; i < 20000; ++i) {
      auto out = m->lookup(bytes(1u));
      if (!out) continue;
      ++reads;
      for (std::size_t off = 8; off < 64; off += 8)
        if (std::memcmp(out->data(), out->data() + off, 8) != 0) ++torn;
    }
    ++readers_done;
  });
  writer.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(reads.load(), 0);
}

TEST(MapConcurrency, LruUnderPressureKeepsKeysAndValuesTogether) {
  auto m = make(BPF_MAP_TYPE_LRU_HASH, 4, 8, 64);
  std::atomic<int> bad{0};
  run_threads(kThreads, [&](int t) {
    uint32_t x = static_cast<uint32_t>(t) * 7919 + 1;
    for (int i = 0; i < 5000; ++i) {
      x = x * 1103515245 + 12345;
      const uint32_t key = x % 1000;
      const uint64_t v = value_for(key, 0);
      if (m->update_elem(&key, &v, BPF_ANY) != 0) ++bad;
      // Through a copy: an element a program's pointer refers to may be evicted and reused
      // for another key at any time, in the kernel too.
      const uint32_t probe = (x >> 8) % 1000;
      if (auto got = m->lookup(bytes(probe)); got && as<uint64_t>(*got) >> 32 != probe) ++bad;
    }
  });
  EXPECT_EQ(bad.load(), 0);
  int count = 0;
  ASSERT_TRUE(m->for_each([&](auto k, auto v) {
    const uint32_t key = as<uint32_t>(std::vector<uint8_t>(k.begin(), k.end()));
    EXPECT_EQ(as<uint64_t>(std::vector<uint8_t>(v.begin(), v.end())), value_for(key, 0));
    ++count;
    return true;
  }).ok());
  EXPECT_GT(count, 0);
  EXPECT_LE(count, 64);
}

TEST(MapConcurrency, ArrayAtomicAddsFromProgramsSum) {
  auto m = make(BPF_MAP_TYPE_ARRAY, 4, 8, 1);
  run_threads(kThreads, [&](int) {
    const uint32_t key = 0;
    for (int i = 0; i < 10000; ++i)
      __atomic_fetch_add(static_cast<uint64_t*>(m->lookup_elem(&key)), 1, __ATOMIC_RELAXED);  // BPF_ATOMIC add
  });
  EXPECT_EQ(as<uint64_t>(*m->lookup(bytes(0u))), uint64_t{kThreads} * 10000);
}

TEST(MapConcurrency, PercpuSlotsNeedNoAtomics) {
  const unsigned saved = cpu::possible();
  cpu::set_possible(kThreads * 2);  // more slots than threads: each thread gets its own
  auto m = make(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 1);
  run_threads(kThreads, [&](int) {
    const uint32_t key = 0;
    for (int i = 0; i < 200000; ++i) {
      // A plain load and store, as a program's non-atomic increment is (volatile: not folded).
      auto* p = static_cast<volatile uint64_t*>(m->lookup_elem(&key));
      *p = *p + 1;
    }
  });
  auto all = *m->lookup(bytes(0u));
  uint64_t sum = 0;
  for (unsigned c = 0; c < m->ncpus(); ++c) {
    uint64_t v;
    std::memcpy(&v, all.data() + 8 * c, 8);
    sum += v;
  }
  EXPECT_EQ(sum, uint64_t{kThreads} * 200000);
  cpu::set_possible(saved);
}

TEST(MapConcurrency, CpuSlotsAreDistinctWhileThreadsRun) {
  const unsigned saved = cpu::possible();
  cpu::set_possible(64);
  std::mutex mutex;
  std::set<unsigned> seen;
  std::atomic<int> arrived{0};
  run_threads(kThreads, [&](int) {
    const unsigned id = cpu::current();
    EXPECT_EQ(cpu::current(), id);  // stable for the thread
    {
      std::lock_guard lock(mutex);
      seen.insert(id);
    }
    ++arrived;
    while (arrived.load() < kThreads) std::this_thread::yield();  // all alive at once
  });
  EXPECT_EQ(seen.size(), std::size_t{kThreads});
  for (unsigned id : seen) EXPECT_LT(id, 64u);
  cpu::set_possible(saved);
}

class QueueStackConcurrency : public ::testing::TestWithParam<uint32_t> {};

TEST_P(QueueStackConcurrency, LosesAndDuplicatesNothing) {
  auto q = make(GetParam(), 0, 4, 128);
  constexpr uint32_t kPerProducer = 3000;
  std::atomic<int> producers_done{0};
  std::mutex mutex;
  std::vector<uint32_t> popped;
  std::thread consumer_a, consumer_b;
  auto consume = [&] {
    std::vector<uint32_t> mine;
    for (;;) {
      uint32_t v;
      if (q->pop_elem(&v) == 0) {
        mine.push_back(v);
        continue;
      }
      std::this_thread::yield();
      if (producers_done.load() == 2) {
        if (q->pop_elem(&v) != 0) break;
        mine.push_back(v);
      }
    }
    std::lock_guard lock(mutex);
    popped.insert(popped.end(), mine.begin(), mine.end());
  };
  consumer_a = std::thread(consume);
  consumer_b = std::thread(consume);
  run_threads(2, [&](int t) {
    for (uint32_t i = 0; i < kPerProducer; ++i) {
      const uint32_t v = static_cast<uint32_t>(t) * kPerProducer + i;
      while (q->push_elem(&v, 0) == -E2BIG) std::this_thread::yield();
    }
    ++producers_done;
  });
  consumer_a.join();
  consumer_b.join();
  std::sort(popped.begin(), popped.end());
  ASSERT_EQ(popped.size(), 2 * kPerProducer);
  for (uint32_t i = 0; i < 2 * kPerProducer; ++i) ASSERT_EQ(popped[i], i);
}

INSTANTIATE_TEST_SUITE_P(Both, QueueStackConcurrency, ::testing::Values(BPF_MAP_TYPE_QUEUE, BPF_MAP_TYPE_STACK),
                         [](const auto& p) { return map_type_name(p.param); });

TEST(MapConcurrency, LpmTrieLookupsSeeOwnPrefixOrTheDefault) {
  auto m = make(BPF_MAP_TYPE_LPM_TRIE, 8, 4, 256, BPF_F_NO_PREALLOC);
  auto key = [](uint32_t len, uint32_t host) {
    std::vector<uint8_t> k(8);
    const uint32_t be = __builtin_bswap32(host);
    std::memcpy(k.data(), &len, 4);
    std::memcpy(k.data() + 4, &be, 4);
    return k;
  };
  ASSERT_TRUE(m->update(key(8, 0x0a000000), bytes(uint32_t{1000})).ok());  // 10.0.0.0/8, never deleted
  std::atomic<int> bad{0};
  run_threads(kThreads, [&](int t) {
    for (uint32_t round = 0; round < 3000; ++round) {
      const uint32_t net = 0x0a000000u | (static_cast<uint32_t>(t) << 16) | ((round % 16) << 8);  // 10.t.x.0/24
      const uint32_t mine = static_cast<uint32_t>(t) * 100 + round % 16;
      if (round % 2 == 0) {
        if (!m->update(key(24, net), bytes(mine)).ok()) ++bad;
      } else if (round % 4 == 1) {
        static_cast<void>(m->erase(key(24, net)));  // ENOENT is fine
      }
      auto got = m->lookup(key(32, net | 7));
      if (!got || (as<uint32_t>(*got) != mine && as<uint32_t>(*got) != 1000)) ++bad;
      auto* p = static_cast<uint32_t*>(m->lookup_elem(key(32, 0x0b000001).data()));  // 11.0.0.1: nothing
      if (p) ++bad;
    }
  });
  EXPECT_EQ(bad.load(), 0);
}

TEST(MapConcurrency, BloomFilterHasNoFalseNegativesUnderConcurrentPushes) {
  auto b = make(BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 20000, 0, 4);
  run_threads(kThreads, [&](int t) {
    for (uint64_t i = 0; i < 4000; ++i) {
      const uint64_t v = (uint64_t(t) << 32) | i;
      b->push_elem(&v, 0);
    }
  });
  int missing = 0;
  for (int t = 0; t < kThreads; ++t)
    for (uint64_t i = 0; i < 4000; ++i) missing += !b->contains(bytes((uint64_t(t) << 32) | i)).ok();
  EXPECT_EQ(missing, 0);
}

TEST(MapConcurrency, PerfEventArrayKeepsEachProducersOrder) {
  const unsigned saved = cpu::possible();
  cpu::set_possible(kThreads * 2);
  auto m = std::dynamic_pointer_cast<PerfEventArrayMap>(make(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, kThreads * 2));
  for (uint32_t i = 0; i < kThreads * 2; ++i) ASSERT_TRUE(m->open_buffer(i, 1 << 20).ok());
  std::atomic<bool> done{false};
  std::vector<uint32_t> next(kThreads, 0);
  int bad = 0;
  auto check = [&](uint32_t, std::span<const uint8_t> s) {
    uint32_t rec[2];
    std::memcpy(rec, s.data(), 8);
    if (rec[0] >= kThreads || rec[1] != next[rec[0]]) ++bad;
    else ++next[rec[0]];
  };
  std::thread reader([&] {
    while (!done.load()) m->consume(check);
  });
  run_threads(kThreads, [&](int t) {
    for (uint32_t seq = 0; seq < 5000; ++seq) {
      const uint32_t rec[2] = {static_cast<uint32_t>(t), seq};
      if (m->output(BPF_F_CURRENT_CPU, rec, sizeof rec) != 0) ADD_FAILURE();
    }
  });
  done = true;
  reader.join();
  m->consume(check);
  EXPECT_EQ(bad, 0);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next[t], 5000u);
  cpu::set_possible(saved);
}

TEST(MapConcurrency, ProgArraySlotsNeverHandOutFreedPrograms) {
  auto m = std::dynamic_pointer_cast<ProgArrayMap>(make(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 8));
  std::atomic<int> bad{0};
  std::vector<std::weak_ptr<const void>> made;
  std::mutex made_mutex;
  run_threads(kThreads, [&](int t) {
    for (uint32_t i = 0; i < 3000; ++i) {
      const uint32_t slot = (i * 7 + static_cast<uint32_t>(t)) % 8;
      if (i % 3 == 0) {
        const uint32_t id = static_cast<uint32_t>(t) * 100000 + i;
        auto prog = std::make_shared<const uint32_t>(id);  // a program whose body is its id
        {
          std::lock_guard lock(made_mutex);
          made.push_back(prog);
        }
        if (!m->set(slot, ProgramRef{id, prog}).ok()) ++bad;
      } else if (i % 3 == 1) {
        ProgramRef ref = m->get(slot);  // a tail call holds it while the callee runs
        if (ref.handle && *static_cast<const uint32_t*>(ref.handle.get()) != ref.id) ++bad;
      } else {
        static_cast<void>(m->erase(bytes(slot)));  // ENOENT is fine
      }
    }
  });
  EXPECT_EQ(bad.load(), 0);
  for (uint32_t s = 0; s < 8; ++s) static_cast<void>(m->erase(bytes(s)));  // ENOENT is fine
  for (const auto& w : made) EXPECT_TRUE(w.expired());  // nothing leaked
}

TEST(MapConcurrency, MapInMapLookupsReturnLiveInnerMaps) {
  auto inner_def = std::make_shared<MapDef>(MapDef{BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0, 0, nullptr, "inner", -1});
  MapDef outer{BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 16, 0, 0, inner_def, "outer", -1};
  auto m = std::dynamic_pointer_cast<MapInMap>(*create_map(outer));
  std::atomic<int> bad{0};
  run_threads(kThreads, [&](int t) {
    for (uint32_t i = 0; i < 2000; ++i) {
      const uint32_t key = (i + static_cast<uint32_t>(t)) % 16;
      if (i % 3 == 0) {
        auto inner = *create_map(*inner_def);
        const uint32_t zero = 0;
        const uint64_t tag = key;
        inner->update_elem(&zero, &tag, BPF_ANY);
        if (!m->set(bytes(key), inner).ok()) ++bad;
      } else if (i % 3 == 1) {
        // A program: look up the inner map, then use it; it must stay usable.
        if (auto* inner = static_cast<Map*>(m->lookup_elem(&key))) {
          const uint32_t zero = 0;
          auto* v = static_cast<uint64_t*>(inner->lookup_elem(&zero));
          if (!v || *v != key) ++bad;
        }
      } else {
        static_cast<void>(m->erase(bytes(key)));  // ENOENT is fine
      }
    }
  });
  EXPECT_EQ(bad.load(), 0);
}

TEST(MapConcurrency, RingBufRecordsArriveInOrderPerProducer) {
  auto rb = std::dynamic_pointer_cast<RingBufMap>(make(BPF_MAP_TYPE_RINGBUF, 0, 0, 16384));
  ASSERT_TRUE(rb);
  constexpr uint32_t kPerProducer = 20000;
  std::atomic<int> done{0};
  std::vector<uint32_t> next_seq(kThreads, 0);
  std::atomic<int> out_of_order{0};
  std::thread consumer([&] {
    auto check = [&](std::span<const uint8_t> rec) {
      uint32_t t, seq;
      std::memcpy(&t, rec.data(), 4);
      std::memcpy(&seq, rec.data() + 4, 4);
      if (t >= kThreads || seq != next_seq[t]) ++out_of_order;
      else ++next_seq[t];
      return 0;
    };
    while (done.load() < kThreads) rb->poll(check, 1);
    rb->consume(check);
  });
  run_threads(kThreads, [&](int t) {
    for (uint32_t seq = 0; seq < kPerProducer; ++seq) {
      if (seq % 2) {
        uint32_t rec[3] = {static_cast<uint32_t>(t), seq, 0};
        while (rb->output(rec, sizeof rec, 0) == -EAGAIN) std::this_thread::yield();
      } else {
        void* p;
        while (!(p = rb->reserve(8 + seq % 24, 0))) std::this_thread::yield();
        const uint32_t head[2] = {static_cast<uint32_t>(t), seq};
        std::memcpy(p, head, 8);
        if (seq % 10 == 4) {  // discarded, then sent again
          rb->discard(p, 0);
          uint32_t rec[2] = {static_cast<uint32_t>(t), seq};
          while (rb->output(rec, sizeof rec, 0) == -EAGAIN) std::this_thread::yield();
        } else {
          rb->submit(p, 0);
        }
      }
    }
    ++done;
  });
  consumer.join();
  EXPECT_EQ(out_of_order.load(), 0);
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(next_seq[t], kPerProducer) << t;
}

}  // namespace
}  // namespace bpfvm::maps::test
