// oneDNN 2.x convolution primitives alone, fp32 against u8 x s8 -> u8 (per-channel output
// scales, ReLU post-op, format_tag_any as Pare's executor asks), on the shapes of resnet18
// and mobilenet_v2: median and minimum of 40 runs, GMAC/s, the implementation oneDNN chose,
// and the fp32/int8 time ratio. Compare the GMAC/s with bench/int8_peak.c's instruction peak.
// Built and run by bench/int8-peak.sh; threads from OMP_NUM_THREADS.
#include <oneapi/dnnl/dnnl.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using dt = memory::data_type;
using tag = memory::format_tag;

struct Shape { const char *name; int batch, in, out, size, kernel, stride, groups; };
struct Timing { double median, minimum; std::string impl; };

static void fill(memory &m, dt type) {
    size_t bytes = m.get_desc().get_size();
    if (type == dt::f32) {
        float *p = static_cast<float *>(m.get_data_handle());
        for (size_t i = 0; i < bytes / 4; i++) p[i] = 0.5f + 0.001f * float(i % 7);
    } else {
        signed char *p = static_cast<signed char *>(m.get_data_handle());
        for (size_t i = 0; i < bytes; i++) p[i] = static_cast<signed char>(i % 5 + 1);
    }
}

static Timing time_conv(engine &eng, stream &s, const Shape &c, bool int8) {
    int pad = c.kernel / 2, outSize = (c.size + 2 * pad - c.kernel) / c.stride + 1;
    memory::dims src = {c.batch, c.in, c.size, c.size}, dst = {c.batch, c.out, outSize, outSize};
    memory::dims wei = c.groups == 1 ? memory::dims{c.out, c.in, c.kernel, c.kernel}
                                     : memory::dims{c.groups, c.out / c.groups, c.in / c.groups, c.kernel, c.kernel};
    dt act = int8 ? dt::u8 : dt::f32, w = int8 ? dt::s8 : dt::f32;
    auto sm = memory::desc(src, act, tag::any), wm = memory::desc(wei, w, tag::any);
    auto dm = memory::desc(dst, act, tag::any), bm = memory::desc({c.out}, dt::f32, tag::x);
    auto desc = convolution_forward::desc(prop_kind::forward_inference, algorithm::convolution_direct, sm, wm, bm, dm,
                                          {c.stride, c.stride}, {pad, pad}, {pad, pad});
    primitive_attr attr;
    if (int8) attr.set_output_scales(2, std::vector<float>(c.out, 0.01f));
    post_ops ops;
    ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
    auto pd = convolution_forward::primitive_desc(desc, attr, eng);
    memory S(pd.src_desc(), eng), W(pd.weights_desc(), eng), D(pd.dst_desc(), eng), B(bm, eng);
    fill(S, act); fill(W, w); fill(B, dt::f32);
    convolution_forward conv(pd);
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, S}, {DNNL_ARG_WEIGHTS, W}, {DNNL_ARG_BIAS, B}, {DNNL_ARG_DST, D}};
    for (int i = 0; i < 5; i++) conv.execute(s, args);
    s.wait();
    std::vector<double> t;
    for (int i = 0; i < 40; i++) {
        auto start = std::chrono::steady_clock::now();
        conv.execute(s, args);
        s.wait();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    return {t[t.size() / 2], t[0], pd.impl_info_str()};
}

int main() {
    engine eng(engine::kind::cpu, 0);
    stream s(eng);
    const Shape shapes[] = {
        {"resnet18 layer1 3x3", 1, 64, 64, 56, 3, 1, 1},     {"resnet18 layer2 3x3", 1, 128, 128, 28, 3, 1, 1},
        {"resnet18 layer3 3x3", 1, 256, 256, 14, 3, 1, 1},   {"resnet18 layer4 3x3", 1, 512, 512, 7, 3, 1, 1},
        {"resnet18 layer1 3x3 b16", 16, 64, 64, 56, 3, 1, 1}, {"mobilenet_v2 1x1 16->96 112", 1, 16, 96, 112, 1, 1, 1},
        {"mobilenet_v2 dw 96 s2 112", 1, 96, 96, 112, 3, 2, 96}, {"mobilenet_v2 dw 144 56", 1, 144, 144, 56, 3, 1, 144},
        {"mobilenet_v2 1x1 320->1280 7", 1, 320, 1280, 7, 1, 1, 1}, {"smallcnn-like 3x3 32ch 28", 1, 32, 32, 28, 3, 1, 1},
    };
    std::printf("%-30s %-22s %9s %8s   %-22s %9s %8s  %s\n", "convolution", "fp32 kernel", "ms", "GMAC/s", "int8 kernel", "ms", "GMAC/s", "fp32/int8");
    for (const Shape &c : shapes) {
        int outSize = (c.size + 2 * (c.kernel / 2) - c.kernel) / c.stride + 1;
        double macs = double(c.batch) * c.out * outSize * outSize * (c.in / c.groups) * c.kernel * c.kernel;
        Timing f = time_conv(eng, s, c, false), q = time_conv(eng, s, c, true);
        std::printf("%-30s %-22s %9.3f %8.1f   %-22s %9.3f %8.1f  %.2fx\n", c.name, f.impl.c_str(), f.median * 1e3,
                    macs / f.minimum * 1e-9, q.impl.c_str(), q.median * 1e3, macs / q.minimum * 1e-9, f.median / q.median);
        std::fflush(stdout);
    }
    return 0;
}
