/* A command-line door to one compiled route's kernels (csrc/routes.h), for testing a
route on a CPU family that the test machine is not: tests/test_cross_routes.py builds
this file with csrc/ for 64-bit ARM and runs it under qemu, so that the NEON route is
checked against the numpy reference without an ARM machine (and natively, to check the
door itself on the routes this CPU runs).

    route_driver ROUTE < request > reply

ROUTE is the route's index (0 AVX-512F, 1 AVX2+FMA, 2 the base route: NEON on ARM). The
request is 16 int64 values, [kernel, p0 .. p14], then the kernel's input arrays; the
reply is its output arrays. Arrays are raw, C-ordered, native-endian; "real" is float32,
or float64 where p14 = 1 (in the kernels that have both).

    kernel 1  conv_forward           p: n c h w c_out kh kw sh sw ph pw dh dw transposed
                                        winograd; in: x, weight; out: out
    kernel 2  conv_backward_weight   p: as kernel 1, transposed = chunk; in: x, grad_out;
                                        out: grad_w
    kernel 3  hinge_forward          p: n classes dim; in: f, g, target (int64), margin
                                        (one float32); out: loss, negative (int64)
    kernel 4  hinge_backward         p: n classes dim, p14 real; in: f, g, target,
                                        negative, weight; out: grad_f, grad_g
    kernel 5  maxpool2x2_forward     p: planes h w, p14 real; in: x; out: out, argmax
    kernel 6  maxpool_backward       p: planes h w, p14 real; in: grad_out, argmax;
                                        out: grad_x

The kernels run on THREADS threads of tlcore's team (the environment variable
TL_DRIVER_THREADS, default 1). Exit status 0 on success, 2 on a bad request, 3 where the
route was not built or this CPU does not run it, 4 where a kernel failed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "routes.h"

static void *read_array(size_t count, size_t size)
{
    void *data = malloc(count * size + 1);
    if (!data || fread(data, size, count, stdin) != count) {
        fprintf(stderr, "route_driver: the request ends before its arrays\n");
        exit(2);
    }
    return data;
}

static void write_array(const void *data, size_t count, size_t size)
{
    fwrite(data, size, count, stdout);
}

static tl_conv_geometry geometry(const int64_t *p)
{
    tl_conv_geometry g;
    g.channels = p[1], g.height = p[2], g.width = p[3];
    g.kh = p[5], g.kw = p[6], g.sh = p[7], g.sw = p[8];
    g.ph = p[9], g.pw = p[10], g.dh = p[11], g.dw = p[12];
    g.out_h = (g.height + 2 * g.ph - g.dh * (g.kh - 1) - 1) / g.sh + 1;
    g.out_w = (g.width + 2 * g.pw - g.dw * (g.kw - 1) - 1) / g.sw + 1;
    return g;
}

static int conv(const tl_route *r, const int64_t *p, int threads, int weight_gradient)
{
    tl_conv_geometry g = geometry(p);
    long n = p[0], c_out = p[4], pixels = g.out_h * g.out_w;
    long x_size = n * g.channels * g.height * g.width;
    long w_size = c_out * g.channels * g.kh * g.kw;
    int winograd = (int)p[14];
    float *x = read_array(x_size, sizeof(float)), *scratch;
    int status;
    if (!weight_gradient) {
        float *weight = read_array(w_size, sizeof(float));
        float *out = malloc(n * c_out * pixels * sizeof(float) + 1);
        scratch = malloc(r->conv_forward_scratch(c_out, &g, winograd, threads) * sizeof(float) + 1);
        status = r->conv_forward_f32(x, n, weight, c_out, (int)p[13], winograd, &g, out,
                                     scratch, threads);
        write_array(out, n * c_out * pixels, sizeof(float));
    } else {
        long chunk = p[13];
        float *grad_out = read_array(n * c_out * pixels, sizeof(float));
        float *grad_w = malloc(w_size * sizeof(float) + 1);
        scratch = malloc(r->conv_backward_weight_scratch(c_out, &g, winograd, chunk)
                         * sizeof(float) + 1);
        status = r->conv_backward_weight_f32(x, grad_out, n, c_out, winograd, &g, grad_w,
                                             scratch, chunk, threads);
        write_array(grad_w, w_size, sizeof(float));
    }
    return status;
}

static int hinge_forward(const tl_route *r, const int64_t *p, int threads)
{
    long n = p[0], classes = p[1], dim = p[2];
    float *f = read_array(n * dim, sizeof(float)), *g = read_array(classes * dim, sizeof(float));
    int64_t *target = read_array(n, sizeof(int64_t));
    float *margin = read_array(1, sizeof(float));
    float *loss = malloc(n * sizeof(float) + 1);
    int64_t *negative = malloc(n * sizeof(int64_t) + 1);
    float *scratch = malloc(r->hinge_forward_scratch(classes, dim, threads) * sizeof(float) + 1);
    int status = r->hinge_forward_f32(f, g, n, classes, dim, target, *margin, loss, negative,
                                      scratch, threads);
    write_array(loss, n, sizeof(float));
    write_array(negative, n, sizeof(int64_t));
    return status;
}

static int hinge_backward(const tl_route *r, const int64_t *p, int threads)
{
    long n = p[0], classes = p[1], dim = p[2];
    size_t real = p[14] ? sizeof(double) : sizeof(float);
    void *f = read_array(n * dim, real), *g = read_array(classes * dim, real);
    int64_t *target = read_array(n, sizeof(int64_t)), *negative = read_array(n, sizeof(int64_t));
    void *weight = read_array(n, real);
    void *grad_f = malloc(n * dim * real + 1), *grad_g = malloc(classes * dim * real + 1);
    int status = p[14] ? r->hinge_backward_f64(f, g, n, classes, dim, target, negative,
                                               weight, grad_f, grad_g, threads)
                       : r->hinge_backward_f32(f, g, n, classes, dim, target, negative,
                                               weight, grad_f, grad_g, threads);
    write_array(grad_f, n * dim, real);
    write_array(grad_g, classes * dim, real);
    return status;
}

static int maxpool(const tl_route *r, const int64_t *p, int threads, int backward)
{
    long planes = p[0], height = p[1], width = p[2], out_h = height / 2, out_w = width / 2;
    long outputs = planes * out_h * out_w, inputs = planes * height * width;
    size_t real = p[14] ? sizeof(double) : sizeof(float);
    if (!backward) {
        void *x = read_array(inputs, real), *out = malloc(outputs * real + 1);
        int64_t *argmax = malloc(outputs * sizeof(int64_t) + 1);
        if (p[14])
            r->maxpool2x2_forward_f64(x, planes, height, width, out_h, out_w, out, argmax,
                                      threads);
        else
            r->maxpool2x2_forward_f32(x, planes, height, width, out_h, out_w, out, argmax,
                                      threads);
        write_array(out, outputs, real);
        write_array(argmax, outputs, sizeof(int64_t));
    } else {
        void *grad_out = read_array(outputs, real), *grad_x = malloc(inputs * real + 1);
        int64_t *argmax = read_array(outputs, sizeof(int64_t));
        if (p[14])
            r->maxpool_backward_f64(grad_out, argmax, planes, height, width, out_h, out_w,
                                    grad_x, threads);
        else
            r->maxpool_backward_f32(grad_out, argmax, planes, height, width, out_h, out_w,
                                    grad_x, threads);
        write_array(grad_x, inputs, real);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int route = argc == 2 ? atoi(argv[1]) : -1;
    const char *threads_text = getenv("TL_DRIVER_THREADS");
    int threads = threads_text ? atoi(threads_text) : 1, status = -1;
    int64_t request[16];
    const tl_route *r = tl_route_at(route);
    if (!r) {
        fprintf(stderr, "usage: route_driver ROUTE < request > reply (ROUTE 0 to %d)\n",
                TL_ROUTES - 1);
        return 2;
    }
    if (!tl_route_supported(route)) {
        fprintf(stderr, "route_driver: route %d (%s) is not built or not run by this CPU\n",
                route, r->name);
        return 3;
    }
    if (fread(request, sizeof(int64_t), 16, stdin) != 16) {
        fprintf(stderr, "route_driver: the request is shorter than its 16 numbers\n");
        return 2;
    }
    switch (request[0]) {
    case 1: status = conv(r, request + 1, threads, 0); break;
    case 2: status = conv(r, request + 1, threads, 1); break;
    case 3: status = hinge_forward(r, request + 1, threads); break;
    case 4: status = hinge_backward(r, request + 1, threads); break;
    case 5: status = maxpool(r, request + 1, threads, 0); break;
    case 6: status = maxpool(r, request + 1, threads, 1); break;
    default:
        fprintf(stderr, "route_driver: no kernel %lld\n", (long long)request[0]);
        return 2;
    }
    fflush(stdout);
    return status == 0 ? 0 : 4;
}
