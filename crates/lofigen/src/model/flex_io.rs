//! The glue every hand-written Flex op (`fftconv`, `wavenet::stack`, `wavenet::head`) shares:
//! plain f32 data in and out of Flex tensors. Which devices run them is
//! [`crate::device::is_flex`]'s answer; every other backend composes burn ops.

use std::borrow::Cow;

use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, TensorData};

/// The `f32` values of a Flex tensor in row-major order (a copy only if it is not contiguous).
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    assert_eq!(
        t.dtype(),
        DType::F32,
        "lofigen's custom ops compute in f32 only"
    );
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("contiguous f32")
                .to_vec(),
        ),
    }
}

/// The shape of a Flex tensor.
pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().iter().copied().collect()
}

/// A Flex tensor of `shape` holding `data` (row-major).
pub(crate) fn flex(data: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape.to_vec()))
}
