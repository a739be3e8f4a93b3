// chash/chash.hpp: the whole library in one include.
//
//   #include <chash/chash.hpp>
//   std::vector<chash::node> nodes{{"app-1"}, {"app-2"}, {"app-3", 2}};
//   auto algo = chash::make(chash::kind::ring, nodes);
//   std::size_t owner = algo->pick("user-42");       // index into nodes
#pragma once

#include <chash/algorithm.hpp>
#include <chash/bounded_load.hpp>
#include <chash/hash.hpp>
#include <chash/jump.hpp>
#include <chash/ketama.hpp>
#include <chash/maglev.hpp>
#include <chash/modulo.hpp>
#include <chash/node.hpp>
#include <chash/rendezvous.hpp>
#include <chash/ring.hpp>
