// The etcd HTTP client (etcd/http_client.hpp) against a scripted loopback server that sends
// the bytes etcd 3.4's JSON gateway sends (see docs/DESIGN.md; measured on the wire):
// http_call reads a Content-Length body, a chunked body with a trailer (a unary gRPC
// error), a body that ends with the connection, an empty body without waiting for the
// close, and the same answers cut into many reads; it refuses a malformed answer, one cut
// short, an unreachable endpoint, a silent one after `timeout`, and one that declares more
// than 64 MiB. http_stream hands over every line of a streamed chunked answer (one JSON per
// chunk, several per chunk, one split across chunks and reads, CRLF, blank lines), a non-2xx
// body as lines, a last line without its newline; it ends stopped when on_line says so,
// finished when the body ends, failed on an EOF or RST mid-stream, an idle stream, a silent
// server, a refused connection, and cancel() from another coroutine; the idle timer restarts
// with every line.
//
// Client and server share one io_context; the server pauses between writes to make the
// client read what came before separately. Timeouts under test are 100-300 ms; everything
// else completes in milliseconds and is bounded by a deadline of seconds.
#include "ringlb/etcd/http_client.hpp"

#include "ringlb/config/values.hpp"

#include "scripted_server.hpp"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace {

using namespace std::chrono_literals;
using ringlb::etcd::http_call;
using ringlb::etcd::http_request;
using ringlb::etcd::http_result;
using ringlb::etcd::http_stream;
using ringlb::etcd::stream_end;
using test::chunk;
using test::hang_up;
using test::send;
using test::wait;
using clock_type = std::chrono::steady_clock;

// Messages of a watch stream as etcd 3.4 sent them (one chunk each, '\n' inside).
const std::string created =
    R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"13","raft_term":"2"},"created":true}})";
const std::string put_event =
    R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"14","raft_term":"2"},"events":[{"kv":{"key":"L3JpbmdsYi9iYWNrZW5kcy9l","create_revision":"14","mod_revision":"14","version":"1","value":"MTAuMC4wLjU6ODA="}}]}})";
const std::string canceled =
    R"({"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","raft_term":"2"},"canceled":true,"compact_revision":"20"}})";
// The in-stream error a member sends when it stops (SIGTERM): no newline in its chunk.
const std::string transport_closing =
    R"({"error":{"grpc_code":14,"http_code":503,"message":"transport is closing","http_status":"Service Unavailable"}})";
const std::string compacted_error =
    R"({"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11})";

class EtcdHttp : public ::testing::Test {
protected:
    void TearDown() override {
        server.close();
        io.restart();
        io.poll();
    }

    http_result call(std::chrono::milliseconds timeout = 2000ms) {
        auto r = test::complete(io, http_call(io, at, req, timeout));
        EXPECT_TRUE(r.has_value()) << "http_call did not complete";
        http_result none;
        none.error = "did not complete";
        return r.value_or(none);
    }

    // Runs a stream, recording its lines; `stop_after` lines, then on_line says stop.
    stream_end stream(std::chrono::milliseconds connect_timeout = 2000ms,
                      std::chrono::milliseconds idle_timeout = 2000ms, std::size_t stop_after = 1000) {
        http_stream::line_fn on_line = [this, stop_after](std::string_view line) {
            lines.emplace_back(line);
            return lines.size() < stop_after;
        };
        auto end = test::complete(io, s.run(at, req, on_line, connect_timeout, idle_timeout));
        EXPECT_TRUE(end.has_value()) << "the stream did not end";
        return end.value_or(stream_end{stream_end::failed, 0, "did not end"});
    }

    asio::io_context io{1};
    test::scripted_server server{io};
    const ringlb::endpoint at = server.at();
    http_request req{"POST", "/v3/kv/range", R"({"key":"L3JpbmdsYi9iYWNrZW5kcy8="})", {}};
    http_stream s{io};
    std::vector<std::string> lines;
};

// --- http_call ---

TEST_F(EtcdHttp, CallReadsAContentLengthBodyAndSendsTheRequestAsWritten) {
    req.headers = {{"Grpc-Metadata-Hasleader", "true"}};
    server.answer({send(test::http_answer(200, R"({"header":{"revision":"4"}})"))});
    const http_result r = call();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"header":{"revision":"4"}})");
    ASSERT_EQ(server.requests().size(), 1u);
    const std::string& sent = server.requests()[0];
    EXPECT_EQ(
        sent.rfind("POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(at.port) + "\r\n", 0),
        0u)
        << sent;
    EXPECT_NE(sent.find("\r\nGrpc-Metadata-Hasleader: true\r\n"), std::string::npos);
    EXPECT_NE(sent.find("\r\nConnection: close\r\n"), std::string::npos);
    EXPECT_NE(sent.find("\r\nContent-Length: " + std::to_string(req.body.size()) + "\r\n"),
              std::string::npos);
    EXPECT_EQ(test::body_of(sent), req.body);
}

TEST_F(EtcdHttp, CallDecodesAChunkedErrorWithItsTrailer) {
    // A compaction error, as the gateway frames a unary gRPC error.
    server.answer({send(test::grpc_error_answer(400, compacted_error))});
    const http_result r = call();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, compacted_error);
}

TEST_F(EtcdHttp, CallReadsAKeepaliveStreamThatEndsAsOneBody) {
    const std::string msg =
        R"({"result":{"header":{"revision":"24","raft_term":"2"},"ID":"4242","TTL":"60"}})"
        "\n";
    server.answer({send(test::stream_head() + chunk(msg) + "0\r\n\r\n")});
    const http_result r = call();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, msg);
}

TEST_F(EtcdHttp, CallReadsAnAnswerCutIntoManyReads) {
    // The body's framing cut everywhere it can be: in a chunk-size line, in its data, in
    // the CRLF after it, in the last chunk and in the trailer.
    const std::string head =
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nTrailer: "
        "Grpc-Trailer-Content-Type\r\nTransfer-Encoding: chunked\r\n\r\n";
    server.answer({send(head), wait(20ms), send("8"), wait(20ms),
                   send("f\r\n" + compacted_error.substr(0, 40)), wait(20ms),
                   send(compacted_error.substr(40) + "\r"), wait(20ms), send("\n0\r\nGrpc-Trailer-"),
                   wait(20ms), send("Content-Type: application/grpc\r\n"), wait(20ms), send("\r\n")});
    const http_result r = call();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(r.body, compacted_error);
}

TEST_F(EtcdHttp, CallReadsAHeadCutIntoTwoReads) {
    // etcd's head is ~300 bytes and usually comes in one segment, but TCP promises nothing.
    const std::string answer = test::http_answer(200, R"({"header":{"revision":"4"}})");
    const std::size_t cut = answer.find("Grpc-Metadata");
    server.answer({send(answer.substr(0, cut)), wait(30ms), send(answer.substr(cut))});
    const http_result r = call();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, R"({"header":{"revision":"4"}})");
}

TEST_F(EtcdHttp, CallReadsABodyThatEndsWithTheConnection) {
    server.answer({send("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\nNot Found\n"), hang_up()});
    const http_result r = call();
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 404);
    EXPECT_EQ(r.body, "Not Found\n");
}

TEST_F(EtcdHttp, CallCompletesAnEmptyBodyWithoutWaitingForTheClose) {
    // The server keeps the connection open: the answer is whole at its head's end.
    server.answer({send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")});
    const auto started = clock_type::now();
    const http_result r = call(3000ms);
    ASSERT_TRUE(r.ok()) << r.error;
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "");
    EXPECT_LT(clock_type::now() - started, 2000ms) << "waited for the timeout";
}

TEST_F(EtcdHttp, CallRefusesAMalformedAnswer) {
    server.answer({send("HELLO etcd\r\n\r\n"), hang_up()});
    const http_result r = call();
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("malformed answer from " + ringlb::to_string(at)), std::string::npos) << r.error;
}

TEST_F(EtcdHttp, CallRefusesABadChunkSize) {
    server.answer({send(test::stream_head() + "zz\r\n{}\r\n0\r\n\r\n"), hang_up()});
    const http_result r = call();
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("malformed answer"), std::string::npos) << r.error;
}

TEST_F(EtcdHttp, CallRefusesAnAnswerCutShort) {
    server.answer({send("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"header\":"), hang_up()});
    const http_result r = call();
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("the answer was cut short"), std::string::npos) << r.error;
}

TEST_F(EtcdHttp, CallRefusesAChunkedAnswerWithoutItsLastChunk) {
    // A member killed (SIGKILL) while answering: EOF with no 0-chunk.
    server.answer({send(test::stream_head() + chunk(created + "\n")), hang_up()});
    const http_result r = call();
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("the answer was cut short"), std::string::npos) << r.error;
}

TEST_F(EtcdHttp, CallReportsARefusedConnection) {
    const ringlb::endpoint nowhere{"127.0.0.1", test::closed_port(io)};
    auto r = test::complete(io, http_call(io, nowhere, req, 2000ms));
    ASSERT_TRUE(r.has_value());
    EXPECT_FALSE(r->ok());
    EXPECT_NE(r->error.find("cannot connect to " + ringlb::to_string(nowhere)), std::string::npos)
        << r->error;
    EXPECT_EQ(r->error.find("timed out"), std::string::npos) << r->error;
}

TEST_F(EtcdHttp, CallConnectsToANameThroughTheResolver) {
    const ringlb::endpoint by_name{"localhost", at.port};
    server.answer({send(test::http_answer(200, "{}"))});
    auto r = test::complete(io, http_call(io, by_name, req, 2000ms));
    ASSERT_TRUE(r.has_value());
    ASSERT_TRUE(r->ok()) << r->error;
    EXPECT_EQ(r->body, "{}");
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_NE(server.requests()[0].find("\r\nHost: localhost:" + std::to_string(at.port) + "\r\n"),
              std::string::npos);
}

TEST_F(EtcdHttp, CallTimesOutOnASilentServer) {
    server.answer({});  // accepts, reads the request, never answers
    const auto started = clock_type::now();
    const http_result r = call(150ms);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
    EXPECT_GE(clock_type::now() - started, 150ms);
}

TEST_F(EtcdHttp, CallTimesOutOnAHeadThatNeverEnds) {
    server.answer({send("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")});
    const http_result r = call(150ms);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
}

TEST_F(EtcdHttp, CallTimesOutOnADeclaredBodyOverTheCapWithoutWaitingForIt) {
    // 65 MiB declared, a few bytes sent: nothing is allocated ahead, the deadline ends it.
    server.answer(
        {send("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(65u << 20) + "\r\n\r\n{\"a\":")});
    const http_result r = call(150ms);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
}

TEST_F(EtcdHttp, CallTimesOutOnADeclaredChunkOverTheCap) {
    server.answer({send(test::stream_head() + "4100000\r\n{\"a\":")});
    const http_result r = call(150ms);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("timed out"), std::string::npos) << r.error;
}

TEST_F(EtcdHttp, CallRefusesAnAnswerOverTheCap) {
    // 64 MiB + 1 byte, sent: refused once the cap is passed, the rest left unread.
    const std::size_t size = ringlb::etcd::max_answer_body + 1;
    std::string answer = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n";
    answer.append(size, 'x');
    server.answer({send(std::move(answer))});
    const http_result r = call(10000ms);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error.find("over 64 MiB"), std::string::npos) << r.error;
    EXPECT_TRUE(r.body.empty());
}

// --- http_stream ---

TEST_F(EtcdHttp, StreamHandsOverEachMessageOfAWatch) {
    req.path = "/v3/watch";
    server.answer({send(test::stream_head() + chunk(created + "\n")), wait(20ms),
                   send(chunk(put_event + "\n")), wait(20ms), send(chunk(canceled + "\n"))});
    const stream_end end = stream(2000ms, 2000ms, 3);
    EXPECT_EQ(end.what, stream_end::stopped) << end.error;
    EXPECT_EQ(end.status, 200);
    EXPECT_EQ(lines, (std::vector<std::string>{created, put_event, canceled}));
}

TEST_F(EtcdHttp, StreamSplitsSeveralLinesInOneChunkAndJoinsALineAcrossChunksAndReads) {
    const std::string a = R"({"result":{"header":{"revision":"1"}}})";
    const std::string b = R"({"result":{"header":{"revision":"2"}}})";
    const std::string c = R"({"result":{"header":{"revision":"3"}}})";
    const std::string rest = c.substr(15) + "\n";
    const std::string size = chunk(rest).substr(0, chunk(rest).find('\r'));  // its hex size
    ASSERT_EQ(size.size(), 2u);
    server.answer({
        send(test::stream_head() + chunk(a + "\n" + b + "\n" + c.substr(0, 10))),  // 2 lines and a piece
        wait(20ms),
        send(chunk(c.substr(10, 5))),  // a middle piece in a chunk of its own
        wait(20ms),
        send(size.substr(0, 1)),  // a chunk-size line cut into two reads
        wait(20ms),
        send(size.substr(1) + "\r\n" + rest.substr(0, 6)),  // its data cut too
        wait(20ms),
        send(rest.substr(6) + "\r\n"),
        wait(20ms),
        send(chunk(a + "\r\n\n\n")),  // CRLF stripped, blank lines skipped
        send("0\r\n\r\n"),
    });
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::finished) << end.error;
    EXPECT_EQ(lines, (std::vector<std::string>{a, b, c, a}));
}

TEST_F(EtcdHttp, StreamDeliversANon2xxBodyAsLines) {
    // A watch on a member without a leader (with Hasleader): the first message is the error,
    // which becomes the status.
    server.answer({send(test::stream_head(503) + chunk(transport_closing) + "0\r\n\r\n")});
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::finished) << end.error;
    EXPECT_EQ(end.status, 503);
    EXPECT_EQ(lines, std::vector<std::string>{transport_closing});
}

TEST_F(EtcdHttp, StreamDeliversAContentLengthErrorBody) {
    const std::string bad = R"({"error":"unexpected EOF","message":"unexpected EOF","code":2})";
    server.answer({send(test::http_answer(500, bad))});
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::finished) << end.error;
    EXPECT_EQ(end.status, 500);
    EXPECT_EQ(lines, std::vector<std::string>{bad});
}

TEST_F(EtcdHttp, StreamEndsWithAMemberStoppedInOrder) {
    // SIGTERM: the error chunk (no newline), the last chunk, then the close.
    server.answer({send(test::stream_head() + chunk(created + "\n")), wait(20ms),
                   send(chunk(transport_closing) + "0\r\n\r\n"), hang_up()});
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::finished) << end.error;
    EXPECT_EQ(lines, (std::vector<std::string>{created, transport_closing}));
}

TEST_F(EtcdHttp, StreamFailsOnAnEofWithoutTheLastChunk) {
    // SIGKILL: the lines before it were delivered, then a plain EOF.
    server.answer({send(test::stream_head() + chunk(created + "\n")), wait(20ms),
                   send(chunk(put_event + "\n")), wait(20ms), hang_up()});
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::failed);
    EXPECT_FALSE(end.error.empty());
    EXPECT_EQ(end.status, 200);
    EXPECT_EQ(lines, (std::vector<std::string>{created, put_event}));
}

TEST_F(EtcdHttp, StreamFailsOnAnEofInTheMiddleOfAChunk) {
    server.answer(
        {send(test::stream_head() + chunk(created + "\n") + "105\r\n{\"result\":"), wait(20ms), hang_up()});
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::failed);
    EXPECT_EQ(lines, std::vector<std::string>{created}) << "the piece of a line is not a line";
}

TEST_F(EtcdHttp, StreamFailsOnAReset) {
    server.answer({send(test::stream_head() + chunk(created + "\n")), wait(20ms), test::reset()});
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::failed);
    EXPECT_FALSE(end.error.empty());
    EXPECT_EQ(lines, std::vector<std::string>{created});
}

TEST_F(EtcdHttp, StreamFailsOnAMalformedAnswer) {
    server.answer({send(test::stream_head() + chunk(created + "\n") + "xyz\r\n"), wait(20ms), hang_up()});
    const stream_end end = stream();
    EXPECT_EQ(end.what, stream_end::failed);
    EXPECT_NE(end.error.find("malformed answer"), std::string::npos) << end.error;
}

TEST_F(EtcdHttp, StreamStopsWhenOnLineSaysSoAndClosesTheConnection) {
    server.answer({send(test::stream_head() + chunk(created + "\n" + put_event + "\n" + canceled + "\n"))});
    const stream_end end = stream(2000ms, 2000ms, 2);
    EXPECT_EQ(end.what, stream_end::stopped);
    EXPECT_EQ(lines, (std::vector<std::string>{created, put_event})) << "nothing after the stop";
    EXPECT_TRUE(test::run_until(io, [&] { return server.closed_by_client() == 1; }));
}

TEST_F(EtcdHttp, StreamFailsWhenNoLineComesWithinTheIdleTimeout) {
    server.answer({send(test::stream_head() + chunk(created + "\n"))});  // then silent, open
    const auto started = clock_type::now();
    const stream_end end = stream(2000ms, 200ms);
    EXPECT_EQ(end.what, stream_end::failed);
    EXPECT_NE(end.error.find("timed out"), std::string::npos) << end.error;
    EXPECT_GE(clock_type::now() - started, 200ms);
    EXPECT_EQ(lines, std::vector<std::string>{created});
    EXPECT_TRUE(test::run_until(io, [&] { return server.closed_by_client() == 1; }));
}

TEST_F(EtcdHttp, StreamIdleTimerRestartsWithEveryLine) {
    // Five lines 40 ms apart, 200 ms in all, under a 150 ms idle timeout: never idle.
    test::script sc{send(test::stream_head())};
    for (int i = 0; i < 5; ++i) {
        sc.push_back(wait(40ms));
        sc.push_back(send(chunk(R"({"result":{"header":{"revision":")" + std::to_string(i + 1) + "\"}}}\n")));
    }
    sc.push_back(send("0\r\n\r\n"));
    server.answer(sc);
    const stream_end end = stream(2000ms, 150ms);
    EXPECT_EQ(end.what, stream_end::finished) << end.error;
    EXPECT_EQ(lines.size(), 5u);
}

TEST_F(EtcdHttp, StreamTimesOutWhenTheHeadNeverComes) {
    // The gateway sends no head before the first message: connect_timeout bounds the wait.
    server.answer({});
    const stream_end end = stream(150ms, 5000ms);
    EXPECT_EQ(end.what, stream_end::failed);
    EXPECT_NE(end.error.find("timed out"), std::string::npos) << end.error;
    EXPECT_TRUE(lines.empty());
}

TEST_F(EtcdHttp, StreamFailsOnARefusedConnection) {
    const ringlb::endpoint nowhere{"127.0.0.1", test::closed_port(io)};
    http_stream::line_fn on_line = [](std::string_view) { return true; };
    auto end = test::complete(io, s.run(nowhere, req, on_line, 2000ms, 2000ms));
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->what, stream_end::failed);
    EXPECT_NE(end->error.find("cannot connect to " + ringlb::to_string(nowhere)), std::string::npos)
        << end->error;
}

asio::awaitable<void> cancel_after(asio::io_context& io, http_stream& s, std::chrono::milliseconds d) {
    asio::steady_timer t{io, d};
    co_await t.async_wait(asio::use_awaitable);
    s.cancel();
}

TEST_F(EtcdHttp, StreamEndsOnCancelFromAnotherCoroutine) {
    server.answer({send(test::stream_head() + chunk(created + "\n"))});
    http_stream::line_fn on_line = [this](std::string_view line) {
        lines.emplace_back(line);
        asio::co_spawn(io, cancel_after(io, s, 20ms), asio::detached);
        return true;
    };
    const auto started = clock_type::now();
    auto end = test::complete(io, s.run(at, req, on_line, 2000ms, 5000ms));
    ASSERT_TRUE(end.has_value());
    EXPECT_EQ(end->what, stream_end::failed);
    EXPECT_EQ(end->error, "cancelled");
    EXPECT_LT(clock_type::now() - started, 3000ms) << "waited for the idle timeout";
    EXPECT_EQ(lines, std::vector<std::string>{created});
    EXPECT_TRUE(test::run_until(io, [&] { return server.closed_by_client() == 1; }));
}

TEST_F(EtcdHttp, StreamEndsOnCancelBeforeTheHead) {
    server.answer({});
    asio::co_spawn(io, cancel_after(io, s, 30ms), asio::detached);
    const stream_end end = stream(5000ms, 5000ms);
    EXPECT_EQ(end.what, stream_end::failed);
    EXPECT_EQ(end.error, "cancelled");
}

TEST_F(EtcdHttp, StreamFinishesAnEmptyBody) {
    server.answer({send("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")});  // then silent, open
    const stream_end end = stream(2000ms, 1000ms);
    EXPECT_EQ(end.what, stream_end::finished) << end.error;
    EXPECT_TRUE(lines.empty());
}

}  // namespace
