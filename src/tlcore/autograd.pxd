# C types for autograd.py, read by Cython where setup.py compiles that file into the
# module tlcore.autograd (an "augmenting .pxd": autograd.py stays plain Python, and is
# the engine wherever it is not compiled, or where TLCORE_ENGINE=python asks for it).
#
# The compiled engine runs the same code. What the types buy: a Tensor's fields and a
# Function's node fields become C struct members, and the engine's helpers plain C
# calls, so that the graph's bookkeeping costs about a third less a node
# (bench/mlp.py times it).

cimport cython


cdef class TensorFields:
    cdef public object data, grad, _creator, _version
    cdef public bint requires_grad, _retains_grad
    cdef public Py_ssize_t _index
    cdef object __weakref__


cdef class Function:
    cdef dict __dict__  # what an op's forward saves for its backward
    cdef public object _sequence, _inputs, needs_input_grad, _watched, _version_sum
    cdef public object _output_meta
    cdef public Py_ssize_t _output_count
    cpdef _record(self, tuple inputs, list watched, list needs, Py_ssize_t output_count)
    cpdef _check_versions(self)


@cython.locals(arrays=list, watched=list, needs=list, out=TensorFields)
cpdef _call(Function fn, tuple inputs)

cdef _init_result(TensorFields out, data, bint requires_grad, creator, Py_ssize_t index,
                  version)

@cython.locals(fn=Function, pending=dict, heap=list, index=Py_ssize_t)
cdef _backward(root, grad, retain_graph)

cdef _run_backward(Function fn, list grad_outputs)

@cython.locals(parent=Function, slots=list)
cdef _send(TensorFields x, g, dict pending, list heap)

cdef _accumulate_leaf(TensorFields x, g, grad_outputs)

cpdef _buffer_counter(array)
