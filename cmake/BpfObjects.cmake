# Compiles BPF C programs as users compile them for the kernel: clang -target bpf -g -O2.
#   bpfvm_bpf_objects(TARGET <name> SOURCE_DIR <dir> OUTPUT_DIR <dir> PROGRAMS a b sub/c)
# builds <SOURCE_DIR>/a.bpf.c into <OUTPUT_DIR>/a.bpf.o, ..., under a custom target <name>.
find_program(BPFVM_BPF_CLANG NAMES clang clang-14 REQUIRED)

function(bpfvm_bpf_objects)
  cmake_parse_arguments(ARG "ALL" "TARGET;SOURCE_DIR;OUTPUT_DIR" "PROGRAMS" ${ARGN})
  set(objects)
  foreach(prog ${ARG_PROGRAMS})
    set(src ${ARG_SOURCE_DIR}/${prog}.bpf.c)
    set(obj ${ARG_OUTPUT_DIR}/${prog}.bpf.o)
    get_filename_component(obj_dir ${obj} DIRECTORY)
    add_custom_command(OUTPUT ${obj}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${obj_dir}
      COMMAND ${BPFVM_BPF_CLANG} -target bpf -g -O2 -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE} -c ${src} -o ${obj}
      DEPENDS ${src}
      COMMENT "clang -target bpf ${prog}.bpf.c"
      VERBATIM)
    list(APPEND objects ${obj})
  endforeach()
  if(ARG_ALL)
    add_custom_target(${ARG_TARGET} ALL DEPENDS ${objects})
  else()
    add_custom_target(${ARG_TARGET} DEPENDS ${objects})
  endif()
endfunction()
