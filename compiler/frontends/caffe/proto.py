"""Caffe's protobuf messages, built at import time without ``protoc``.

infercc reads Caffe models (``.prototxt`` network definitions and binary ``.caffemodel``
weights) through message classes made here from a ``FileDescriptorProto`` assembled in
Python, so installing infercc needs neither ``protoc`` nor a generated ``caffe_pb2``.

Contract:

* The schema (package ``caffe``, proto2) is :data:`_SCHEMA` below. Field names, numbers,
  types, labels, defaults and ``packed`` options follow BVLC Caffe's
  ``src/caffe/proto/caffe.proto`` (master), so files written by any Caffe read and write
  byte-compatibly. Added from the SSD fork (weiliu89/caffe, same field numbers there):
  ``permute_param`` (202), ``prior_box_param`` (203), ``detection_output_param`` (204),
  ``norm_param`` (206) with their messages. Training-only messages (solver, datum,
  SSD data augmentation and loss messages) are left out; any field a file carries that is
  not in the schema is kept as an unknown field by binary parsing and skipped (with a
  warning) by :func:`read_prototxt`.
* One deviation: ``ClipParameter.min``/``max`` are ``required`` in Caffe; here they are
  ``optional`` (same numbers and wire format) so that a file missing them still loads and
  the frontend can report the missing field itself.
* Every message class is a module attribute (``NetParameter``, ``LayerParameter``,
  ``BlobProto``, ``ConvolutionParameter``, ...); enum values are reachable through the
  classes as usual (``PoolingParameter.MAX``, ``V1LayerParameter.CONVOLUTION``) and the
  top-level ``Phase`` values as :data:`TRAIN` / :data:`TEST`.
* :func:`read_prototxt`, :func:`read_caffemodel` raise
  :class:`~compiler.errors.ModelLoadError` naming the file (and for text, line and column).
* :func:`blob_to_array` / :func:`array_to_blob` convert blobs to and from numpy quickly
  (no per-element Python loop); :func:`write_caffemodel` writes atomically.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.message import DecodeError, Message

from ...errors import ModelLoadError

log = logging.getLogger(__name__)

# The Caffe schema in .proto syntax (comments dropped). It is parsed by the small reader
# below into a FileDescriptorProto; keeping the .proto form makes it checkable line by line
# against caffe.proto. Field order inside a message follows caffe.proto.
_SCHEMA = r"""
message BlobShape {
  repeated int64 dim = 1 [packed = true];
}

message BlobProto {
  optional BlobShape shape = 7;
  repeated float data = 5 [packed = true];
  repeated float diff = 6 [packed = true];
  repeated double double_data = 8 [packed = true];
  repeated double double_diff = 9 [packed = true];
  optional int32 num = 1 [default = 0];
  optional int32 channels = 2 [default = 0];
  optional int32 height = 3 [default = 0];
  optional int32 width = 4 [default = 0];
}

message BlobProtoVector {
  repeated BlobProto blobs = 1;
}

message FillerParameter {
  optional string type = 1 [default = 'constant'];
  optional float value = 2 [default = 0];
  optional float min = 3 [default = 0];
  optional float max = 4 [default = 1];
  optional float mean = 5 [default = 0];
  optional float std = 6 [default = 1];
  optional int32 sparse = 7 [default = -1];
  enum VarianceNorm {
    FAN_IN = 0;
    FAN_OUT = 1;
    AVERAGE = 2;
  }
  optional VarianceNorm variance_norm = 8 [default = FAN_IN];
}

message NetParameter {
  optional string name = 1;
  repeated string input = 3;
  repeated BlobShape input_shape = 8;
  repeated int32 input_dim = 4;
  optional bool force_backward = 5 [default = false];
  optional NetState state = 6;
  optional bool debug_info = 7 [default = false];
  repeated LayerParameter layer = 100;
  repeated V1LayerParameter layers = 2;
}

enum Phase {
  TRAIN = 0;
  TEST = 1;
}

message NetState {
  optional Phase phase = 1 [default = TEST];
  optional int32 level = 2 [default = 0];
  repeated string stage = 3;
}

message NetStateRule {
  optional Phase phase = 1;
  optional int32 min_level = 2;
  optional int32 max_level = 3;
  repeated string stage = 4;
  repeated string not_stage = 5;
}

message ParamSpec {
  optional string name = 1;
  optional DimCheckMode share_mode = 2;
  enum DimCheckMode {
    STRICT = 0;
    PERMISSIVE = 1;
  }
  optional float lr_mult = 3 [default = 1.0];
  optional float decay_mult = 4 [default = 1.0];
}

message LayerParameter {
  optional string name = 1;
  optional string type = 2;
  repeated string bottom = 3;
  repeated string top = 4;
  optional Phase phase = 10;
  repeated float loss_weight = 5;
  repeated ParamSpec param = 6;
  repeated BlobProto blobs = 7;
  repeated bool propagate_down = 11;
  repeated NetStateRule include = 8;
  repeated NetStateRule exclude = 9;
  optional TransformationParameter transform_param = 100;
  optional LossParameter loss_param = 101;
  optional AccuracyParameter accuracy_param = 102;
  optional ArgMaxParameter argmax_param = 103;
  optional BatchNormParameter batch_norm_param = 139;
  optional BiasParameter bias_param = 141;
  optional ClipParameter clip_param = 148;
  optional ConcatParameter concat_param = 104;
  optional ContrastiveLossParameter contrastive_loss_param = 105;
  optional ConvolutionParameter convolution_param = 106;
  optional CropParameter crop_param = 144;
  optional DataParameter data_param = 107;
  optional DetectionOutputParameter detection_output_param = 204;
  optional DropoutParameter dropout_param = 108;
  optional DummyDataParameter dummy_data_param = 109;
  optional EltwiseParameter eltwise_param = 110;
  optional ELUParameter elu_param = 140;
  optional EmbedParameter embed_param = 137;
  optional ExpParameter exp_param = 111;
  optional FlattenParameter flatten_param = 135;
  optional HDF5DataParameter hdf5_data_param = 112;
  optional HDF5OutputParameter hdf5_output_param = 113;
  optional HingeLossParameter hinge_loss_param = 114;
  optional ImageDataParameter image_data_param = 115;
  optional InfogainLossParameter infogain_loss_param = 116;
  optional InnerProductParameter inner_product_param = 117;
  optional InputParameter input_param = 143;
  optional LogParameter log_param = 134;
  optional LRNParameter lrn_param = 118;
  optional MemoryDataParameter memory_data_param = 119;
  optional MVNParameter mvn_param = 120;
  optional NormalizeParameter norm_param = 206;
  optional ParameterParameter parameter_param = 145;
  optional PermuteParameter permute_param = 202;
  optional PoolingParameter pooling_param = 121;
  optional PowerParameter power_param = 122;
  optional PReLUParameter prelu_param = 131;
  optional PriorBoxParameter prior_box_param = 203;
  optional PythonParameter python_param = 130;
  optional RecurrentParameter recurrent_param = 146;
  optional ReductionParameter reduction_param = 136;
  optional ReLUParameter relu_param = 123;
  optional ReshapeParameter reshape_param = 133;
  optional ScaleParameter scale_param = 142;
  optional SigmoidParameter sigmoid_param = 124;
  optional SoftmaxParameter softmax_param = 125;
  optional SPPParameter spp_param = 132;
  optional SliceParameter slice_param = 126;
  optional SwishParameter swish_param = 147;
  optional TanHParameter tanh_param = 127;
  optional ThresholdParameter threshold_param = 128;
  optional TileParameter tile_param = 138;
  optional WindowDataParameter window_data_param = 129;
}

message TransformationParameter {
  optional float scale = 1 [default = 1];
  optional bool mirror = 2 [default = false];
  optional uint32 crop_size = 3 [default = 0];
  optional string mean_file = 4;
  repeated float mean_value = 5;
  optional bool force_color = 6 [default = false];
  optional bool force_gray = 7 [default = false];
}

message LossParameter {
  optional int32 ignore_label = 1;
  enum NormalizationMode {
    FULL = 0;
    VALID = 1;
    BATCH_SIZE = 2;
    NONE = 3;
  }
  optional NormalizationMode normalization = 3 [default = VALID];
  optional bool normalize = 2;
}

message AccuracyParameter {
  optional uint32 top_k = 1 [default = 1];
  optional int32 axis = 2 [default = 1];
  optional int32 ignore_label = 3;
}

message ArgMaxParameter {
  optional bool out_max_val = 1 [default = false];
  optional uint32 top_k = 2 [default = 1];
  optional int32 axis = 3;
}

message ClipParameter {
  optional float min = 1;
  optional float max = 2;
}

message ConcatParameter {
  optional int32 axis = 2 [default = 1];
  optional uint32 concat_dim = 1 [default = 1];
}

message BatchNormParameter {
  optional bool use_global_stats = 1;
  optional float moving_average_fraction = 2 [default = .999];
  optional float eps = 3 [default = 1e-5];
}

message BiasParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 num_axes = 2 [default = 1];
  optional FillerParameter filler = 3;
}

message ContrastiveLossParameter {
  optional float margin = 1 [default = 1.0];
  optional bool legacy_version = 2 [default = false];
}

message ConvolutionParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  repeated uint32 pad = 3;
  repeated uint32 kernel_size = 4;
  repeated uint32 stride = 6;
  repeated uint32 dilation = 18;
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_h = 11;
  optional uint32 kernel_w = 12;
  optional uint32 stride_h = 13;
  optional uint32 stride_w = 14;
  optional uint32 group = 5 [default = 1];
  optional FillerParameter weight_filler = 7;
  optional FillerParameter bias_filler = 8;
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 15 [default = DEFAULT];
  optional int32 axis = 16 [default = 1];
  optional bool force_nd_im2col = 17 [default = false];
}

message CropParameter {
  optional int32 axis = 1 [default = 2];
  repeated uint32 offset = 2;
}

message DataParameter {
  enum DB {
    LEVELDB = 0;
    LMDB = 1;
  }
  optional string source = 1;
  optional uint32 batch_size = 4;
  optional uint32 rand_skip = 7 [default = 0];
  optional DB backend = 8 [default = LEVELDB];
  optional float scale = 2 [default = 1];
  optional string mean_file = 3;
  optional uint32 crop_size = 5 [default = 0];
  optional bool mirror = 6 [default = false];
  optional bool force_encoded_color = 9 [default = false];
  optional uint32 prefetch = 10 [default = 4];
}

message NonMaximumSuppressionParameter {
  optional float nms_threshold = 1 [default = 0.3];
  optional int32 top_k = 2;
  optional float eta = 3 [default = 1.0];
}

message ResizeParameter {
  optional float prob = 1 [default = 1];
  enum Resize_mode {
    WARP = 1;
    FIT_SMALL_SIZE = 2;
    FIT_LARGE_SIZE_AND_PAD = 3;
  }
  optional Resize_mode resize_mode = 2 [default = WARP];
  optional uint32 height = 3 [default = 0];
  optional uint32 width = 4 [default = 0];
  optional uint32 height_scale = 8 [default = 0];
  optional uint32 width_scale = 9 [default = 0];
  enum Pad_mode {
    CONSTANT = 1;
    MIRRORED = 2;
    REPEAT_NEAREST = 3;
  }
  optional Pad_mode pad_mode = 5 [default = CONSTANT];
  repeated float pad_value = 6;
  enum Interp_mode {
    LINEAR = 1;
    AREA = 2;
    NEAREST = 3;
    CUBIC = 4;
    LANCZOS4 = 5;
  }
  repeated Interp_mode interp_mode = 7;
}

message SaveOutputParameter {
  optional string output_directory = 1;
  optional string output_name_prefix = 2;
  optional string output_format = 3;
  optional string label_map_file = 4;
  optional string name_size_file = 5;
  optional uint32 num_test_image = 6;
  optional ResizeParameter resize_param = 7;
}

message DetectionOutputParameter {
  optional uint32 num_classes = 1;
  optional bool share_location = 2 [default = true];
  optional int32 background_label_id = 3 [default = 0];
  optional NonMaximumSuppressionParameter nms_param = 4;
  optional SaveOutputParameter save_output_param = 5;
  optional PriorBoxParameter.CodeType code_type = 6 [default = CORNER];
  optional bool variance_encoded_in_target = 8 [default = false];
  optional int32 keep_top_k = 7 [default = -1];
  optional float confidence_threshold = 9;
  optional bool visualize = 10 [default = false];
  optional float visualize_threshold = 11;
  optional string save_file = 12;
}

message DropoutParameter {
  optional float dropout_ratio = 1 [default = 0.5];
}

message DummyDataParameter {
  repeated FillerParameter data_filler = 1;
  repeated BlobShape shape = 6;
  repeated uint32 num = 2;
  repeated uint32 channels = 3;
  repeated uint32 height = 4;
  repeated uint32 width = 5;
}

message EltwiseParameter {
  enum EltwiseOp {
    PROD = 0;
    SUM = 1;
    MAX = 2;
  }
  optional EltwiseOp operation = 1 [default = SUM];
  repeated float coeff = 2;
  optional bool stable_prod_grad = 3 [default = true];
}

message ELUParameter {
  optional float alpha = 1 [default = 1];
}

message EmbedParameter {
  optional uint32 num_output = 1;
  optional uint32 input_dim = 2;
  optional bool bias_term = 3 [default = true];
  optional FillerParameter weight_filler = 4;
  optional FillerParameter bias_filler = 5;
}

message ExpParameter {
  optional float base = 1 [default = -1.0];
  optional float scale = 2 [default = 1.0];
  optional float shift = 3 [default = 0.0];
}

message FlattenParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 end_axis = 2 [default = -1];
}

message HDF5DataParameter {
  optional string source = 1;
  optional uint32 batch_size = 2;
  optional bool shuffle = 3 [default = false];
}

message HDF5OutputParameter {
  optional string file_name = 1;
}

message HingeLossParameter {
  enum Norm {
    L1 = 1;
    L2 = 2;
  }
  optional Norm norm = 1 [default = L1];
}

message ImageDataParameter {
  optional string source = 1;
  optional uint32 batch_size = 4 [default = 1];
  optional uint32 rand_skip = 7 [default = 0];
  optional bool shuffle = 8 [default = false];
  optional uint32 new_height = 9 [default = 0];
  optional uint32 new_width = 10 [default = 0];
  optional bool is_color = 11 [default = true];
  optional float scale = 2 [default = 1];
  optional string mean_file = 3;
  optional uint32 crop_size = 5 [default = 0];
  optional bool mirror = 6 [default = false];
  optional string root_folder = 12 [default = ""];
}

message InfogainLossParameter {
  optional string source = 1;
  optional int32 axis = 2 [default = 1];
}

message InnerProductParameter {
  optional uint32 num_output = 1;
  optional bool bias_term = 2 [default = true];
  optional FillerParameter weight_filler = 3;
  optional FillerParameter bias_filler = 4;
  optional int32 axis = 5 [default = 1];
  optional bool transpose = 6 [default = false];
}

message InputParameter {
  repeated BlobShape shape = 1;
}

message LogParameter {
  optional float base = 1 [default = -1.0];
  optional float scale = 2 [default = 1.0];
  optional float shift = 3 [default = 0.0];
}

message LRNParameter {
  optional uint32 local_size = 1 [default = 5];
  optional float alpha = 2 [default = 1.];
  optional float beta = 3 [default = 0.75];
  enum NormRegion {
    ACROSS_CHANNELS = 0;
    WITHIN_CHANNEL = 1;
  }
  optional NormRegion norm_region = 4 [default = ACROSS_CHANNELS];
  optional float k = 5 [default = 1.];
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 6 [default = DEFAULT];
}

message MemoryDataParameter {
  optional uint32 batch_size = 1;
  optional uint32 channels = 2;
  optional uint32 height = 3;
  optional uint32 width = 4;
}

message MVNParameter {
  optional bool normalize_variance = 1 [default = true];
  optional bool across_channels = 2 [default = false];
  optional float eps = 3 [default = 1e-9];
}

message NormalizeParameter {
  optional bool across_spatial = 1 [default = true];
  optional FillerParameter scale_filler = 2;
  optional bool channel_shared = 3 [default = true];
  optional float eps = 4 [default = 1e-10];
}

message ParameterParameter {
  optional BlobShape shape = 1;
}

message PermuteParameter {
  repeated uint32 order = 1;
}

message PoolingParameter {
  enum PoolMethod {
    MAX = 0;
    AVE = 1;
    STOCHASTIC = 2;
  }
  optional PoolMethod pool = 1 [default = MAX];
  optional uint32 pad = 4 [default = 0];
  optional uint32 pad_h = 9 [default = 0];
  optional uint32 pad_w = 10 [default = 0];
  optional uint32 kernel_size = 2;
  optional uint32 kernel_h = 5;
  optional uint32 kernel_w = 6;
  optional uint32 stride = 3 [default = 1];
  optional uint32 stride_h = 7;
  optional uint32 stride_w = 8;
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 11 [default = DEFAULT];
  optional bool global_pooling = 12 [default = false];
  enum RoundMode {
    CEIL = 0;
    FLOOR = 1;
  }
  optional RoundMode round_mode = 13 [default = CEIL];
}

message PowerParameter {
  optional float power = 1 [default = 1.0];
  optional float scale = 2 [default = 1.0];
  optional float shift = 3 [default = 0.0];
}

message PriorBoxParameter {
  enum CodeType {
    CORNER = 1;
    CENTER_SIZE = 2;
    CORNER_SIZE = 3;
  }
  repeated float min_size = 1;
  repeated float max_size = 2;
  repeated float aspect_ratio = 3;
  optional bool flip = 4 [default = true];
  optional bool clip = 5 [default = false];
  repeated float variance = 6;
  optional uint32 img_size = 7;
  optional uint32 img_h = 8;
  optional uint32 img_w = 9;
  optional float step = 10;
  optional float step_h = 11;
  optional float step_w = 12;
  optional float offset = 13 [default = 0.5];
}

message PythonParameter {
  optional string module = 1;
  optional string layer = 2;
  optional string param_str = 3 [default = ''];
  optional bool share_in_parallel = 4 [default = false];
}

message RecurrentParameter {
  optional uint32 num_output = 1 [default = 0];
  optional FillerParameter weight_filler = 2;
  optional FillerParameter bias_filler = 3;
  optional bool debug_info = 4 [default = false];
  optional bool expose_hidden = 5 [default = false];
}

message ReductionParameter {
  enum ReductionOp {
    SUM = 1;
    ASUM = 2;
    SUMSQ = 3;
    MEAN = 4;
  }
  optional ReductionOp operation = 1 [default = SUM];
  optional int32 axis = 2 [default = 0];
  optional float coeff = 3 [default = 1.0];
}

message ReLUParameter {
  optional float negative_slope = 1 [default = 0];
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 2 [default = DEFAULT];
}

message ReshapeParameter {
  optional BlobShape shape = 1;
  optional int32 axis = 2 [default = 0];
  optional int32 num_axes = 3 [default = -1];
}

message ScaleParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 num_axes = 2 [default = 1];
  optional FillerParameter filler = 3;
  optional bool bias_term = 4 [default = false];
  optional FillerParameter bias_filler = 5;
}

message SigmoidParameter {
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 1 [default = DEFAULT];
}

message SliceParameter {
  optional int32 axis = 3 [default = 1];
  repeated uint32 slice_point = 2;
  optional uint32 slice_dim = 1 [default = 1];
}

message SoftmaxParameter {
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 1 [default = DEFAULT];
  optional int32 axis = 2 [default = 1];
}

message SwishParameter {
  optional float beta = 1 [default = 1];
}

message TanHParameter {
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 1 [default = DEFAULT];
}

message TileParameter {
  optional int32 axis = 1 [default = 1];
  optional int32 tiles = 2;
}

message ThresholdParameter {
  optional float threshold = 1 [default = 0];
}

message WindowDataParameter {
  optional string source = 1;
  optional float scale = 2 [default = 1];
  optional string mean_file = 3;
  optional uint32 batch_size = 4;
  optional uint32 crop_size = 5 [default = 0];
  optional bool mirror = 6 [default = false];
  optional float fg_threshold = 7 [default = 0.5];
  optional float bg_threshold = 8 [default = 0.5];
  optional float fg_fraction = 9 [default = 0.25];
  optional uint32 context_pad = 10 [default = 0];
  optional string crop_mode = 11 [default = "warp"];
  optional bool cache_images = 12 [default = false];
  optional string root_folder = 13 [default = ""];
}

message SPPParameter {
  enum PoolMethod {
    MAX = 0;
    AVE = 1;
    STOCHASTIC = 2;
  }
  optional uint32 pyramid_height = 1;
  optional PoolMethod pool = 2 [default = MAX];
  enum Engine {
    DEFAULT = 0;
    CAFFE = 1;
    CUDNN = 2;
  }
  optional Engine engine = 6 [default = DEFAULT];
}

message V1LayerParameter {
  repeated string bottom = 2;
  repeated string top = 3;
  optional string name = 4;
  repeated NetStateRule include = 32;
  repeated NetStateRule exclude = 33;
  enum LayerType {
    NONE = 0;
    ABSVAL = 35;
    ACCURACY = 1;
    ARGMAX = 30;
    BNLL = 2;
    CONCAT = 3;
    CONTRASTIVE_LOSS = 37;
    CONVOLUTION = 4;
    DATA = 5;
    DECONVOLUTION = 39;
    DROPOUT = 6;
    DUMMY_DATA = 32;
    EUCLIDEAN_LOSS = 7;
    ELTWISE = 25;
    EXP = 38;
    FLATTEN = 8;
    HDF5_DATA = 9;
    HDF5_OUTPUT = 10;
    HINGE_LOSS = 28;
    IM2COL = 11;
    IMAGE_DATA = 12;
    INFOGAIN_LOSS = 13;
    INNER_PRODUCT = 14;
    LRN = 15;
    MEMORY_DATA = 29;
    MULTINOMIAL_LOGISTIC_LOSS = 16;
    MVN = 34;
    POOLING = 17;
    POWER = 26;
    RELU = 18;
    SIGMOID = 19;
    SIGMOID_CROSS_ENTROPY_LOSS = 27;
    SILENCE = 36;
    SOFTMAX = 20;
    SOFTMAX_LOSS = 21;
    SPLIT = 22;
    SLICE = 33;
    TANH = 23;
    WINDOW_DATA = 24;
    THRESHOLD = 31;
  }
  optional LayerType type = 5;
  repeated BlobProto blobs = 6;
  repeated string param = 1001;
  repeated DimCheckMode blob_share_mode = 1002;
  enum DimCheckMode {
    STRICT = 0;
    PERMISSIVE = 1;
  }
  repeated float blobs_lr = 7;
  repeated float weight_decay = 8;
  repeated float loss_weight = 35;
  optional AccuracyParameter accuracy_param = 27;
  optional ArgMaxParameter argmax_param = 23;
  optional ConcatParameter concat_param = 9;
  optional ContrastiveLossParameter contrastive_loss_param = 40;
  optional ConvolutionParameter convolution_param = 10;
  optional DataParameter data_param = 11;
  optional DropoutParameter dropout_param = 12;
  optional DummyDataParameter dummy_data_param = 26;
  optional EltwiseParameter eltwise_param = 24;
  optional ExpParameter exp_param = 41;
  optional HDF5DataParameter hdf5_data_param = 13;
  optional HDF5OutputParameter hdf5_output_param = 14;
  optional HingeLossParameter hinge_loss_param = 29;
  optional ImageDataParameter image_data_param = 15;
  optional InfogainLossParameter infogain_loss_param = 16;
  optional InnerProductParameter inner_product_param = 17;
  optional LRNParameter lrn_param = 18;
  optional MemoryDataParameter memory_data_param = 22;
  optional MVNParameter mvn_param = 34;
  optional PoolingParameter pooling_param = 19;
  optional PowerParameter power_param = 21;
  optional ReLUParameter relu_param = 30;
  optional SigmoidParameter sigmoid_param = 38;
  optional SoftmaxParameter softmax_param = 39;
  optional SliceParameter slice_param = 31;
  optional TanHParameter tanh_param = 37;
  optional ThresholdParameter threshold_param = 25;
  optional WindowDataParameter window_data_param = 20;
  optional TransformationParameter transform_param = 36;
  optional LossParameter loss_param = 42;
  optional V0LayerParameter layer = 1;
}

message V0LayerParameter {
  optional string name = 1;
  optional string type = 2;
  optional uint32 num_output = 3;
  optional bool biasterm = 4 [default = true];
  optional FillerParameter weight_filler = 5;
  optional FillerParameter bias_filler = 6;
  optional uint32 pad = 7 [default = 0];
  optional uint32 kernelsize = 8;
  optional uint32 group = 9 [default = 1];
  optional uint32 stride = 10 [default = 1];
  enum PoolMethod {
    MAX = 0;
    AVE = 1;
    STOCHASTIC = 2;
  }
  optional PoolMethod pool = 11 [default = MAX];
  optional float dropout_ratio = 12 [default = 0.5];
  optional uint32 local_size = 13 [default = 5];
  optional float alpha = 14 [default = 1.];
  optional float beta = 15 [default = 0.75];
  optional float k = 22 [default = 1.];
  optional string source = 16;
  optional float scale = 17 [default = 1];
  optional string meanfile = 18;
  optional uint32 batchsize = 19;
  optional uint32 cropsize = 20 [default = 0];
  optional bool mirror = 21 [default = false];
  repeated BlobProto blobs = 50;
  repeated float blobs_lr = 51;
  repeated float weight_decay = 52;
  optional uint32 rand_skip = 53 [default = 0];
  optional float det_fg_threshold = 54 [default = 0.5];
  optional float det_bg_threshold = 55 [default = 0.5];
  optional float det_fg_fraction = 56 [default = 0.25];
  optional uint32 det_context_pad = 58 [default = 0];
  optional string det_crop_mode = 59 [default = "warp"];
  optional int32 new_num = 60 [default = 0];
  optional int32 new_channels = 61 [default = 0];
  optional int32 new_height = 62 [default = 0];
  optional int32 new_width = 63 [default = 0];
  optional bool shuffle_images = 64 [default = false];
  optional uint32 concat_dim = 65 [default = 1];
  optional HDF5OutputParameter hdf5_output_param = 1001;
}

message PReLUParameter {
  optional FillerParameter filler = 1;
  optional bool channel_shared = 2 [default = false];
}
"""

# V1LayerParameter.LayerType -> the layer type string of the current format, as Caffe's own
# upgrade (upgrade_proto.cpp, UpgradeV1LayerType) names it.
V1_TYPE_NAMES: dict[str, str] = {
    "ABSVAL": "AbsVal", "ACCURACY": "Accuracy", "ARGMAX": "ArgMax", "BNLL": "BNLL",
    "CONCAT": "Concat", "CONTRASTIVE_LOSS": "ContrastiveLoss", "CONVOLUTION": "Convolution",
    "DECONVOLUTION": "Deconvolution", "DATA": "Data", "DROPOUT": "Dropout",
    "DUMMY_DATA": "DummyData", "EUCLIDEAN_LOSS": "EuclideanLoss", "ELTWISE": "Eltwise",
    "EXP": "Exp", "FLATTEN": "Flatten", "HDF5_DATA": "HDF5Data", "HDF5_OUTPUT": "HDF5Output",
    "HINGE_LOSS": "HingeLoss", "IM2COL": "Im2col", "IMAGE_DATA": "ImageData",
    "INFOGAIN_LOSS": "InfogainLoss", "INNER_PRODUCT": "InnerProduct", "LRN": "LRN",
    "MEMORY_DATA": "MemoryData", "MULTINOMIAL_LOGISTIC_LOSS": "MultinomialLogisticLoss",
    "MVN": "MVN", "POOLING": "Pooling", "POWER": "Power", "RELU": "ReLU",
    "SIGMOID": "Sigmoid", "SIGMOID_CROSS_ENTROPY_LOSS": "SigmoidCrossEntropyLoss",
    "SILENCE": "Silence", "SOFTMAX": "Softmax", "SOFTMAX_LOSS": "SoftmaxWithLoss",
    "SPLIT": "Split", "SLICE": "Slice", "TANH": "TanH", "WINDOW_DATA": "WindowData",
    "THRESHOLD": "Threshold",
}

# ---------------------------------------------------------------------------------------
# A reader for the restricted .proto subset used in _SCHEMA: proto2 messages with fields,
# nested and top-level enums, [default = ...] and [packed = ...] options.

_F = descriptor_pb2.FieldDescriptorProto
_SCALARS = {
    "double": _F.TYPE_DOUBLE, "float": _F.TYPE_FLOAT, "int64": _F.TYPE_INT64,
    "uint64": _F.TYPE_UINT64, "int32": _F.TYPE_INT32, "uint32": _F.TYPE_UINT32,
    "bool": _F.TYPE_BOOL, "string": _F.TYPE_STRING, "bytes": _F.TYPE_BYTES,
    "sint32": _F.TYPE_SINT32, "sint64": _F.TYPE_SINT64,
}
_LABELS = {"optional": _F.LABEL_OPTIONAL, "repeated": _F.LABEL_REPEATED,
           "required": _F.LABEL_REQUIRED}
_TOKEN = re.compile(r"""\s*(?:("[^"]*"|'[^']*')|([A-Za-z_][\w.]*)|([-+]?[\d.][\w.+-]*)|(\S))""")


def _tokens(text: str) -> list[str]:
    text = re.sub(r"//[^\n]*", "", text)
    out: list[str] = []
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            break
        out.append(m.group(0).strip())
        pos = m.end()
    return [t for t in out if t]


class _SchemaReader:
    """Builds a FileDescriptorProto from _SCHEMA; type names are resolved afterwards."""

    def __init__(self, text: str, package: str):
        self.toks = _tokens(text)
        self.i = 0
        self.package = package
        self.messages: set[str] = set()  # full names without package, e.g. "A" or "A.B"
        self.enums: set[str] = set()
        self.pending: list[tuple[str, Any, str]] = []  # (scope, field proto, type name)

    def next(self, expect: str | None = None) -> str:
        tok = self.toks[self.i]
        self.i += 1
        if expect is not None and tok != expect:
            raise AssertionError(f"caffe schema: expected {expect!r}, got {tok!r} at token {self.i}")
        return tok

    def build(self) -> descriptor_pb2.FileDescriptorProto:
        fdp = descriptor_pb2.FileDescriptorProto(
            name="infercc/caffe.proto", package=self.package, syntax="proto2")
        while self.i < len(self.toks):
            kw = self.next()
            if kw == "message":
                self._message(fdp.message_type.add(), "")
            elif kw == "enum":
                self._enum(fdp.enum_type.add(), "")
            else:
                raise AssertionError(f"caffe schema: unexpected {kw!r}")
        for scope, field, tname in self.pending:
            self._resolve(scope, field, tname)
        return fdp

    def _enum(self, ed: descriptor_pb2.EnumDescriptorProto, scope: str) -> None:
        ed.name = self.next()
        self.enums.add(f"{scope}{ed.name}")
        self.next("{")
        while (tok := self.next()) != "}":
            self.next("=")
            ed.value.add(name=tok, number=int(self.next()))
            self.next(";")

    def _message(self, md: descriptor_pb2.DescriptorProto, scope: str) -> None:
        md.name = self.next()
        full = f"{scope}{md.name}"
        self.messages.add(full)
        self.next("{")
        while (tok := self.next()) != "}":
            if tok == "enum":
                self._enum(md.enum_type.add(), full + ".")
            elif tok == "message":
                self._message(md.nested_type.add(), full + ".")
            else:
                self._field(md.field.add(), tok, full)

    def _field(self, fd: Any, label: str, scope: str) -> None:
        fd.label = _LABELS[label]
        tname = self.next()
        fd.name = self.next()
        fd.json_name = _json_name(fd.name)
        self.next("=")
        fd.number = int(self.next())
        if self.toks[self.i] == "[":
            self.next()
            while True:
                key = self.next()
                self.next("=")
                value = self.next()
                if key == "packed":
                    fd.options.packed = value == "true"
                elif key == "default":
                    fd.default_value = value  # normalized once the type is known
                else:
                    raise AssertionError(f"caffe schema: unknown option {key!r}")
                if self.next() == "]":
                    break
        self.next(";")
        if tname in _SCALARS:
            fd.type = _SCALARS[tname]
            if fd.HasField("default_value"):
                fd.default_value = _normalize_default(tname, fd.default_value)
        else:
            self.pending.append((scope, fd, tname))

    def _resolve(self, scope: str, fd: Any, tname: str) -> None:
        # proto scoping: innermost enclosing scope first, then outwards to the package.
        parts = scope.split(".")
        for k in range(len(parts), -1, -1):
            cand = ".".join(parts[:k] + [tname])
            if cand in self.messages or cand in self.enums:
                break
        else:
            raise AssertionError(f"caffe schema: unknown type {tname!r} in {scope}")
        fd.type_name = f".{self.package}.{cand}"
        fd.type = _F.TYPE_MESSAGE if cand in self.messages else _F.TYPE_ENUM


def _json_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _normalize_default(tname: str, raw: str) -> str:
    if tname in ("string", "bytes"):
        return raw[1:-1]
    if tname in ("float", "double"):
        return repr(float(raw))  # ".999" and "1." are not accepted by every runtime
    return raw


def _build_classes() -> dict[str, type[Message]]:
    fdp = _SchemaReader(_SCHEMA, "caffe").build()
    pool = descriptor_pool.DescriptorPool()  # private: never clashes with another caffe_pb2
    pool.Add(fdp)
    classes: dict[str, type[Message]] = {}
    for md in fdp.message_type:
        classes[md.name] = message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"caffe.{md.name}"))
    return classes


_CLASSES = _build_classes()
globals().update(_CLASSES)
_PHASE = _CLASSES["NetState"].DESCRIPTOR.fields_by_name["phase"].enum_type
TRAIN: int = _PHASE.values_by_name["TRAIN"].number
TEST: int = _PHASE.values_by_name["TEST"].number

# Names the type checker and readers see; the classes themselves come from _CLASSES.
NetParameter: Any = _CLASSES["NetParameter"]
LayerParameter: Any = _CLASSES["LayerParameter"]
V1LayerParameter: Any = _CLASSES["V1LayerParameter"]
BlobProto: Any = _CLASSES["BlobProto"]
BlobShape: Any = _CLASSES["BlobShape"]

__all__ = sorted(
    [*_CLASSES, "TRAIN", "TEST", "V1_TYPE_NAMES", "read_prototxt", "read_caffemodel",
     "parse_prototxt", "parse_caffemodel", "blob_to_array", "array_to_blob",
     "write_caffemodel", "is_v1", "blob_shape", "MAX_NESTING"]
)

# ---------------------------------------------------------------------------------------
# Reading and writing files.


def parse_prototxt(text: str, source: str = "<prototxt>") -> Any:
    """Parse Caffe text format into a NetParameter.

    Fields unknown to the schema (layer parameters of Caffe forks) are skipped with a
    warning naming the first one; any other syntax error raises ModelLoadError with
    ``source:line:column``. Text nested deeper than :data:`MAX_NESTING` braces is refused
    with ModelLoadError naming the line before protobuf sees it (protobuf's text parser
    recurses once per level and would overflow Python's stack).
    """
    _check_nesting(text, source)
    net = NetParameter()
    try:
        text_format.Merge(text, net)
        return net
    except text_format.ParseError as strict_err:
        first = strict_err
    net = NetParameter()
    try:
        text_format.Merge(text, net, allow_unknown_field=True)
    except text_format.ParseError as e:
        raise ModelLoadError(_text_error(source, e)) from None
    log.warning("%s: skipped fields unknown to infercc's Caffe schema; the first: %s",
                source, _describe(first))
    return net


#: Deepest ``{``/``<`` nesting a prototxt may have: the depth protobuf's binary parsers allow
#: by default (C++ CodedInputStream, upb), so a .prototxt nests as deep as a .caffemodel may.
#: Caffe's own schema nests at most 5 deep; the rest is room for fields of Caffe forks.
MAX_NESTING = 100

# Tokens that matter for nesting: strings (their braces do not count), comments, newlines
# (for the line number) and the message delimiters of the text format.
_NESTING_TOKEN = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|[{}<>\n]""")


def _check_nesting(text: str, source: str) -> None:
    """Raise ModelLoadError when ``text`` opens more than MAX_NESTING messages at once."""
    depth, line = 0, 1
    for m in _NESTING_TOKEN.finditer(text):
        tok = m.group()
        if tok == "\n":
            line += 1
        elif tok in ("{", "<"):
            depth += 1
            if depth > MAX_NESTING:
                raise ModelLoadError(
                    f"{source}:{line}: Caffe prototxt nests messages more than {MAX_NESTING} "
                    f"deep at line {line}; no Caffe net nests like this (the file is corrupt or "
                    "not a network definition), so check the braces around this line")
        elif tok in ("}", ">"):
            depth -= 1


def _strip_position(e: text_format.ParseError) -> str:
    """The parser's message without its leading "line:col : " (reported separately)."""
    msg = str(e)
    m = re.match(r"^\s*\d+:\d+\s*:\s*", msg)
    return msg[m.end():] if m else msg


def _describe(e: text_format.ParseError) -> str:
    where = f"line {e.GetLine()}, column {e.GetColumn()}: " if e.GetLine() is not None else ""
    return where + _strip_position(e)


def _text_error(source: str, e: text_format.ParseError) -> str:
    line, col = e.GetLine(), e.GetColumn()
    where = f"{source}:{line}:{col}: Caffe prototxt parse error at line {line}, column {col}"
    if line is None:
        where = f"{source}: Caffe prototxt parse error"
    return (f"{where}: {_strip_position(e)} "
            "(fix the text near this position; infercc reads BVLC Caffe's text format)")


def read_prototxt(path: str | os.PathLike[str]) -> Any:
    """Read a ``.prototxt`` network definition into a NetParameter (see parse_prototxt)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ModelLoadError(f"{p}: cannot read Caffe prototxt: {e}") from None
    return parse_prototxt(text, str(p))


def parse_caffemodel(data: bytes, source: str = "<caffemodel>") -> Any:
    """Parse binary NetParameter bytes; raise ModelLoadError when they are not a Caffe net.

    Bytes that decode but carry no layer at all (empty input, an unrelated protobuf, most
    truncations at a field boundary) are rejected too, since no real model looks like that.
    """
    net = NetParameter()
    try:
        net.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as e:
        raise ModelLoadError(
            f"{source}: not a valid Caffe model ({len(data)} bytes; protobuf decoding "
            f"failed: {e}); the file may be truncated or not a .caffemodel") from None
    if len(net.layer) == 0 and len(net.layers) == 0:
        raise ModelLoadError(
            f"{source}: no layers found in {len(data)} bytes; the file is empty, truncated "
            "or not a Caffe .caffemodel")
    return net


def read_caffemodel(path: str | os.PathLike[str]) -> Any:
    """Read a binary ``.caffemodel`` into a NetParameter (see parse_caffemodel)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ModelLoadError(f"{p}: cannot read Caffe model: {e}") from None
    return parse_caffemodel(data, str(p))


def write_caffemodel(net: Any, path: str | os.PathLike[str]) -> None:
    """Serialize ``net`` to ``path`` atomically: readers see the old file or the new one."""
    from ...fileio import atomic_write

    atomic_write(path, net.SerializeToString())


def is_v1(net: Any) -> bool:
    """True when ``net`` uses the deprecated V1 ``layers`` field instead of ``layer``."""
    return len(net.layers) > 0 and len(net.layer) == 0


# ---------------------------------------------------------------------------------------
# Blobs <-> numpy.
#
# Reading: np.asarray over a repeated float field copies at memcpy speed with the upb
# runtime (about 2 ms for 6M values). Writing: extend() builds a Python float per value
# (about 1 s for 4M values), so array_to_blob instead merges the packed field's wire bytes,
# which are exactly the little-endian array.

_FIELD_DATA = 5
_FIELD_DOUBLE_DATA = 8


def blob_shape(blob: Any) -> list[int]:
    """A blob's shape: legacy num/channels/height/width when any is set, else ``shape``.

    This is the rule of Caffe's Blob::FromProto, so old 4-D weights (e.g. InnerProduct
    weights stored as 1x1xNxK) keep their stored 4-D shape; callers reshape as needed.
    """
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        return [blob.num, blob.channels, blob.height, blob.width]
    return [int(d) for d in blob.shape.dim]


def blob_to_array(blob: Any, name: str = "blob") -> np.ndarray:
    """Convert a BlobProto into a numpy array (float32 from ``data``, float64 from
    ``double_data`` when that is the one filled). ``name`` appears in error messages.

    Raises ModelLoadError when the shape has a negative dimension or the number of values
    is not the product of the shape's dimensions."""
    shape = blob_shape(blob)
    if any(d < 0 for d in shape):
        raise ModelLoadError(
            f"{name}: blob shape {shape} has a negative dimension; the model file is corrupt")
    if len(blob.double_data) > 0 and len(blob.data) == 0:
        arr = np.array(blob.double_data, dtype=np.float64)
    else:
        arr = np.array(blob.data, dtype=np.float32)
    count = math.prod(shape)  # Python ints: a corrupt huge shape must not wrap around
    if arr.size != count:
        raise ModelLoadError(
            f"{name}: blob holds {arr.size} values but its shape {shape} needs {count}; "
            "the model file is inconsistent or truncated")
    return arr.reshape(shape)


def array_to_blob(array: Any, double: bool = False) -> Any:
    """Convert a numpy array into a BlobProto with ``shape`` set (not the legacy 4-D
    fields). Values go to ``data`` as float32, or to ``double_data`` when ``double``."""
    arr = np.asarray(array)
    blob = BlobProto()
    blob.shape.dim.extend(int(d) for d in arr.shape)
    dtype, field = ("<f8", _FIELD_DOUBLE_DATA) if double else ("<f4", _FIELD_DATA)
    payload = np.ascontiguousarray(arr, dtype=dtype).tobytes()
    if payload:
        head = _encode_varint((field << 3) | 2) + _encode_varint(len(payload))
        blob.MergeFromString(head + payload)
    return blob


def _encode_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)
