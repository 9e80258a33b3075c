// MPI, loaded at run time with dlopen: the project ships no MPI headers and links no MPI library,
// so one build runs with or without it; a single process never loads it.
//
// Only Open MPI's ABI is supported (libmpi.so.40, Open MPI 3 to 5): its mpi.h defines
// MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, ... as the addresses of exported globals
// (ompi_mpi_comm_world, ompi_mpi_float, ompi_mpi_op_sum), so dlsym of those names gives the
// handles. MPICH-style libraries (integer handles) are refused with that reason.
//
// Where the library is looked for: BIOFEG_MPI=<file path> (that file only), else "libmpi.so.40"
// through the dynamic loader's search path.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace biofeg::comm::mpi {

using Handle = void*;  // MPI_Comm, MPI_Datatype, MPI_Op: pointers in Open MPI

struct Api {
  std::string path;
  int (*initialized)(int*) = nullptr;
  int (*init_thread)(int*, char***, int, int*) = nullptr;
  int (*finalized)(int*) = nullptr;
  int (*finalize)() = nullptr;
  int (*comm_rank)(Handle, int*) = nullptr;
  int (*comm_size)(Handle, int*) = nullptr;
  int (*allreduce)(const void*, void*, int, Handle, Handle, Handle) = nullptr;
  int (*iallreduce)(const void*, void*, int, Handle, Handle, Handle, Handle*) = nullptr;
  int (*testall)(int, Handle*, int*, void*) = nullptr;
  int (*waitall)(int, Handle*, void*) = nullptr;
  int (*allgather)(const void*, int, Handle, void*, int, Handle, Handle) = nullptr;
  int (*bcast)(void*, int, Handle, int, Handle) = nullptr;
  int (*barrier)(Handle) = nullptr;
  int (*error_string)(int, char*, int*) = nullptr;
  int (*abort)(Handle, int) = nullptr;
  Handle comm_world = nullptr, t_float = nullptr, t_double = nullptr, t_byte = nullptr, op_sum = nullptr, op_max = nullptr;
};

// The loaded library, or nullptr (absent_reason() says what was tried). Loads once; thread-safe.
const Api* api();
std::string absent_reason();

// MPI_Init_thread (SERIALIZED: any thread may call, one at a time) once per process, and
// this process's place in MPI_COMM_WORLD. Throws a Device error when the library is absent.
struct World {
  int rank = 0, size = 1;
  std::string library;
};
World init();
// The collectives on MPI_COMM_WORLD, host memory, blocking. Counts in elements; a count above
// INT_MAX is split into chunks. Throws a Device error on an MPI failure, with MPI's message.
void allreduce_sum_f32(float* data, int64_t n);
void allreduce_sum_f64(double* data, int64_t n);
void allreduce_max_f64(double* data, int64_t n);
void allgather_bytes(const void* send, void* recv, int64_t bytes_per_rank);
void broadcast_bytes(void* data, int64_t bytes, int root);
void barrier();
// Nonblocking in-place sum (MPI_Iallreduce) of n floats: appends its requests (one per INT_MAX
// chunk) to `reqs`. The data must stay put until wait_all returns. Same order on every rank.
void iallreduce_sum_f32(float* data, int64_t n, std::vector<Handle>& reqs);
// MPI_Testall: drives the requests' progress (Open MPI moves a nonblocking collective on only
// inside MPI calls); true once all are complete.
bool test_all(std::vector<Handle>& reqs);
// MPI_Waitall, then `reqs` is empty.
void wait_all(std::vector<Handle>& reqs);
// MPI_Finalize when we initialised it (idempotent).
void finalize();
// MPI_Abort(COMM_WORLD, code): ends every rank of the job (a rank that fails alone must not exit
// normally: MPI_Finalize would wait for ranks that wait in a collective for it). Does not return.
[[noreturn]] void abort(int code);

}  // namespace biofeg::comm::mpi
