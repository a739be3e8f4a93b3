// CLI wiring of map, simulate and plan. Options are taken as strings and parsed by the tools'
// own parsers, so every bad value gets the same style of one-line message and status 2.
#include "ringlb/tools/commands.hpp"

#include "ringlb/tools/experiments.hpp"
#include "ringlb/tools/map.hpp"
#include "ringlb/tools/plan.hpp"
#include "ringlb/tools/report.hpp"
#include "ringlb/tools/simulation.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iostream>
#include <ostream>

namespace ringlb::tools {
namespace {

// Flags shared by map and simulate: the placement, from a config or from the command line.
struct pool_flags {
    std::string config_path;
    std::string algorithm = "ring";
    std::string nodes;
    std::string weights;
    std::string vnodes;
    std::string table_size;

    void add_to(CLI::App& cmd) {
        auto* c = cmd.add_option("-c,--config", config_path, "Use the backends and [routing] of this config")
                      ->type_name("FILE");
        auto* a = cmd.add_option("-a,--algorithm", algorithm,
                                 "ring | ketama | maglev | rendezvous | jump | modulo (default ring)")
                      ->type_name("NAME");
        auto* n = cmd.add_option("-n,--nodes", nodes, "A count N (ids node-001..) or ids: a,b,c")
                      ->type_name("N|IDS");
        auto* w = cmd.add_option("-w,--weights", weights, "One weight for all nodes, or one per node: 1,2,1")
                      ->type_name("W[,W...]");
        auto* v = cmd.add_option("--vnodes", vnodes, "Ring points per unit of weight (default 160)")
                      ->type_name("N");
        auto* t = cmd.add_option("--table-size", table_size, "Maglev table size, a prime (default 65537)")
                      ->type_name("N");
        for (auto* o : {a, n, w, v, t}) o->excludes(c);
    }

    [[nodiscard]] bool from_config() const { return !config_path.empty(); }

    pool resolve(unsigned id_width_hint = 0) const {
        if (from_config()) return pool_from_config(load_config_for_tool(config_path));
        if (nodes.empty()) throw usage_error("--nodes is required (or -c FILE)");
        pool p;
        p.algorithm = parse_algorithm(algorithm);
        p.nodes = parse_nodes(nodes, id_width_hint);
        if (!weights.empty()) apply_weights(p.nodes, weights);
        if (!vnodes.empty()) {
            p.options.vnodes_per_weight =
                static_cast<std::uint32_t>(parse_count("--vnodes", vnodes, 1, 1u << 20));
        }
        if (!table_size.empty()) {
            p.options.table_size =
                static_cast<std::uint32_t>(parse_count("--table-size", table_size, 2, chash::max_table_size));
        }
        return p;
    }
};

bool is_count(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

double parse_factor(std::string_view flag, const std::string& text) {
    double v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        throw usage_error(std::string{flag} + ": \"" + text + "\" is not a number");
    }
    return v;
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream f{path, std::ios::binary | std::ios::trunc};
    f << content;
    f.close();
    if (!f) throw usage_error("--svg: cannot write " + path);
}

}  // namespace

struct commands::state {
    CLI::App* map = nullptr;
    CLI::App* simulate = nullptr;
    CLI::App* plan = nullptr;

    pool_flags map_pool;
    std::string map_candidates = "1";

    pool_flags sim_pool;
    std::string sim_keys = "1000000";
    std::string sim_remove;
    std::string sim_add;
    std::string sim_balance = "0";
    std::string sim_format = "table";
    std::string sim_svg;
    std::string sim_sweep;
    bool sim_compare = false;
    bool sim_per_node = false;
    bool sim_no_timing = false;

    std::string plan_config;
    std::string plan_drain;
    std::string plan_add;
    std::string plan_weight;
    std::string plan_keys = "1000000";
    std::string plan_format = "table";

    int run_map(std::ostream& out);
    int run_simulate(std::ostream& out);
    int run_plan(std::ostream& out);
};

commands::commands(CLI::App& app) : state_{std::make_unique<state>()} {
    state& s = *state_;
    s.map = app.add_subcommand("map", "Read keys on stdin, one per line; print key<TAB>node for each");
    s.map_pool.add_to(*s.map);
    s.map
        ->add_option("--candidates", s.map_candidates,
                     "Also print the failover order: up to K distinct nodes per key (default 1)")
        ->type_name("K");
    s.map->footer(
        "Example: printf 'user-1\\nuser-2\\n' | ringlb map -a maglev -n 10\n"
        "Streams: memory stays constant however many keys are read. Bounded loads and health\n"
        "are not applied: the answer is each key's placement, its first choice when all is well.");

    s.simulate = app.add_subcommand("simulate", "Measure key spread, and what a membership change moves");
    s.sim_pool.add_to(*s.simulate);
    s.simulate->add_option("-k,--keys", s.sim_keys, "Keys to place: key-0, key-1, ... (default 1000000)")
        ->type_name("K");
    auto* remove =
        s.simulate->add_option("--remove", s.sim_remove, "Change: remove the last R nodes, or these ids")
            ->type_name("R|IDS");
    auto* add = s.simulate->add_option("--add", s.sim_add, "Change: add R nodes (node-N+1..), or these ids")
                    ->type_name("R|IDS");
    remove->excludes(add);
    s.simulate
        ->add_option("--balance-factor", s.sim_balance,
                     "Bounded loads: place keys with chash::bounded_load at this factor (0 = off)")
        ->type_name("C");
    s.simulate->add_option("--format", s.sim_format, "table | json (default table)")->type_name("FORMAT");
    s.simulate->add_option("--svg", s.sim_svg, "Also draw the result as an SVG chart into FILE")
        ->type_name("FILE");
    auto* sweep = s.simulate->add_option("--sweep", s.sim_sweep, "Repeat over vnodes=FROM..TO[:STEPS] (ring)")
                      ->type_name("vnodes=A..B");
    auto* compare = s.simulate->add_flag("--compare", s.sim_compare, "Run every algorithm on the same input");
    sweep->excludes(compare);
    s.simulate->add_flag("--per-node", s.sim_per_node, "Table: one row per node");
    s.simulate->add_flag("--no-timing", s.sim_no_timing,
                         "Leave out build and lookup times (reproducible output)");
    s.simulate->footer(
        "Examples:\n"
        "  ringlb simulate -a ring -n 100 --remove 1\n"
        "  ringlb simulate -n 100 --sweep vnodes=10..2000 --svg sweep.svg\n"
        "  ringlb simulate --compare -n 100 --remove 1 --format json");

    s.plan = app.add_subcommand("plan", "Show what a backend change would move, without touching anything");
    s.plan->add_option("-c,--config", s.plan_config, "The config whose backends change")
        ->required()
        ->type_name("FILE");
    auto* drain = s.plan->add_option("--drain", s.plan_drain, "Remove backend ID")->type_name("ID");
    auto* padd = s.plan->add_option("--add", s.plan_add, "Add a backend")->type_name("ID=ADDRESS[,WEIGHT]");
    auto* weight =
        s.plan->add_option("--weight", s.plan_weight, "Change a backend's weight")->type_name("ID=W");
    drain->excludes(padd)->excludes(weight);
    padd->excludes(weight);
    s.plan
        ->add_option("-k,--keys", s.plan_keys,
                     "Keys sampled where no exact method exists, and for the slow-start schedule (default "
                     "1000000)")
        ->type_name("K");
    s.plan->add_option("--format", s.plan_format, "table | json (default table)")->type_name("FORMAT");
    s.plan->footer(
        "With [routing] slow_start set in the config, --add also prints when the new backend's keys\n"
        "reach it: the share arrived at 11 instants from the reload to the end of the window.");
}

commands::~commands() = default;

int commands::run(std::ostream& out, std::ostream& err) {
    state& s = *state_;
    try {
        if (s.map->parsed()) return s.run_map(out);
        if (s.simulate->parsed()) return s.run_simulate(out);
        if (s.plan->parsed()) return s.run_plan(out);
    } catch (const usage_error& e) {
        // Config errors arrive as several FILE:LINE:COL lines; everything else is one line.
        const std::string what = e.what();
        err << (what.find('\n') == std::string::npos ? "ringlb: " : "") << what << '\n';
        return 2;
    } catch (const chash::error& e) {
        err << "ringlb: " << e.what() << '\n';
        return 2;
    }
    err << "ringlb: no command selected (see ringlb --help)\n";
    return 2;
}

int commands::state::run_map(std::ostream& out) {
    const pool p = map_pool.resolve();
    const auto algo = p.build();
    const auto k = parse_count("--candidates", map_candidates, 1, max_map_candidates);
    // Map is fed millions of keys: untie cin from cout, or every getline flushes the output
    // (one write(2) per key), and drop the C stdio synchronisation.
    std::ios::sync_with_stdio(false);
    std::cin.tie(nullptr);
    map_keys(*algo, p.nodes, std::cin, out, static_cast<std::size_t>(k));
    out.flush();
    return 0;
}

int commands::state::run_simulate(std::ostream& out) {
    if (sim_format != "table" && sim_format != "json") {
        throw usage_error("--format: \"" + sim_format + "\"; expected table or json");
    }
    scenario sc;
    // Generated ids are padded for the largest node count of the run, so that "node-099"
    // sorts before "node-100" and the ids of the nodes before do not change with --add.
    const std::uint64_t added = is_count(sim_add) ? parse_count("--add", sim_add, 1, max_tool_nodes) : 0;
    const std::uint64_t base =
        is_count(sim_pool.nodes) ? parse_count("--nodes", sim_pool.nodes, 1, max_tool_nodes) : 0;
    const unsigned width = id_width(base + added);
    sc.before = sim_pool.resolve(width);
    sc.keys = parse_count("--keys", sim_keys, 1, max_tool_keys);
    sc.balance_factor = parse_factor("--balance-factor", sim_balance);
    if (!sim_remove.empty()) {
        if (is_count(sim_remove)) {
            const auto r = parse_count("--remove", sim_remove, 1, sc.before.nodes.size());
            for (std::size_t i = sc.before.nodes.size() - r; i < sc.before.nodes.size(); ++i) {
                sc.remove.push_back(sc.before.nodes[i].id);
            }
        } else {
            for (const auto& n : parse_nodes(sim_remove)) sc.remove.push_back(n.id);
        }
    }
    if (!sim_add.empty()) {
        if (added > 0) {
            if (base == 0)
                throw usage_error("--add R needs --nodes N (a count) so new ids can follow on; or give ids");
            for (std::uint64_t i = 0; i < added; ++i)
                sc.add.push_back(chash::node{generated_id(base + i, width), 1});
        } else {
            sc.add = parse_nodes(sim_add);
        }
    }
    const report_options opts{!sim_no_timing, sim_per_node};
    std::vector<svg::chart> charts;
    if (sim_compare) {
        const auto rows = run_compare(sc);
        out << (sim_format == "json" ? compare_to_json(rows, opts).dump(2) + "\n"
                                     : format_compare_table(rows, opts));
        charts = charts_for_compare(rows);
    } else if (!sim_sweep.empty()) {
        const auto points = run_sweep(sc, parse_sweep(sim_sweep));
        out << (sim_format == "json" ? sweep_to_json(points, opts).dump(2) + "\n"
                                     : format_sweep_table(points, opts));
        charts = charts_for_sweep(points);
    } else {
        const simulation r = tools::simulate(sc);
        out << (sim_format == "json" ? to_json(r, opts).dump(2) + "\n" : format_table(r, opts));
        charts = charts_for(r);
    }
    if (!sim_svg.empty()) write_file(sim_svg, svg::render(charts));
    return 0;
}

int commands::state::run_plan(std::ostream& out) {
    if (plan_format != "table" && plan_format != "json") {
        throw usage_error("--format: \"" + plan_format + "\"; expected table or json");
    }
    plan_change change;
    if (!plan_drain.empty()) {
        change = parse_plan_drain(plan_drain);
    } else if (!plan_add.empty()) {
        change = parse_plan_add(plan_add);
    } else if (!plan_weight.empty()) {
        change = parse_plan_weight(plan_weight);
    } else {
        throw usage_error("plan: give one change: --drain ID, --add ID=ADDRESS[,WEIGHT] or --weight ID=W");
    }
    const config cfg = load_config_for_tool(plan_config);
    const pool current = pool_from_config(cfg);
    // An added backend joins through slow start when the config has it, as serve would run it.
    const plan_result p = make_plan(current, change, parse_count("--keys", plan_keys, 1, max_tool_keys),
                                    cfg.routing.slow_start);
    out << (plan_format == "json" ? plan_to_json(p).dump(2) + "\n" : format_plan(p));
    return 0;
}

}  // namespace ringlb::tools
